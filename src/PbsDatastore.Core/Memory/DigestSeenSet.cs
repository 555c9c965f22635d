using PbsDatastore.Core.Formats;

namespace PbsDatastore.Core.Memory;

/// <summary>
/// A thread-safe set of digests already dealt with (verify's verified chunks), bounded by memory. It is a cache of
/// the most recently met digests: an open-addressing table of bare 32-byte digests, each with the generation it
/// was last met in (a generation is an eighth of the table's fill). A full table drops its oldest generations
/// until an eighth is free again; a digest met again is young again, so digests that keep recurring stay. Verify
/// meets a group's snapshots one after another and they share most chunks, so what recurs is recent: a store
/// whose groups each fit the set is stat'ed once per chunk, at any size. Membership is exact for what is kept and
/// "not seen" for what was dropped: a caller only ever redoes work it would skip with unbounded memory, never
/// skips work it must do.
/// </summary>
public sealed class DigestSeenSet
{
    /// <summary>Generations a full table holds: a drop frees this share of it.</summary>
    public const int Generations = 8;

    /// <summary>
    /// Bytes a slot takes: its digest and its generation. A table is full at a load of 0.8 (linear probing over
    /// random digests: about 13 probes for a miss), so 41 bytes per digest held when full, 47 just after a drop.
    /// </summary>
    public const int BytesPerSlot = ChunkDigest.Size + 1;

    private const double MaxLoad = 0.8;
    private const int MinSlots = 16, MaxShards = 64, SlotsPerShardAtLeast = 4096;

    private readonly Shard[] _shards;
    private readonly int _slots;
    private readonly long _outgrownLimit;
    private long _outgrown;
    private bool _dropped;

    /// <param name="memoryLimit">
    /// Bytes the set may take: four fifths for the tables at their largest, one fifth for the arrays tables
    /// outgrow on the way, which the runtime frees late (they are handed back whenever they fill it).
    /// </param>
    public DigestSeenSet(long memoryLimit = DigestPartitions.DefaultMemoryLimit)
    {
        if (memoryLimit <= 0) throw new ArgumentOutOfRangeException(nameof(memoryLimit));
        var slots = memoryLimit * 4 / 5 / BytesPerSlot;
        // Many shards spread the locks of concurrent verify threads; a small limit gets fewer, so each keeps room.
        var shards = (int)Math.Clamp(slots / SlotsPerShardAtLeast, 1, MaxShards);
        _slots = (int)Math.Clamp(slots / shards, MinSlots, Array.MaxLength);
        _outgrownLimit = memoryLimit / 5;
        _shards = new Shard[shards];
        for (var i = 0; i < shards; i++) _shards[i] = new Shard(Math.Min(_slots, 256), _slots);
    }

    /// <summary>Digests the set holds at most (every table full).</summary>
    public long Capacity => (long)_shards[0].Fill * _shards.Length;

    /// <summary>Whether nothing was ever dropped: the set then holds every digest added.</summary>
    public bool IsComplete => !Volatile.Read(ref _dropped);

    private Shard ShardOf(in ChunkDigest digest) => _shards[(int)(digest.LeadingWord % (ulong)_shards.Length)];

    /// <summary>Whether the digest is held; one that is makes it young again.</summary>
    public bool Contains(in ChunkDigest digest)
    {
        if (IsEmpty(digest)) return false;
        var shard = ShardOf(digest);
        lock (shard) return shard.Touch(digest);
    }

    /// <summary>Adds the digest (or makes it young again); a full table first drops its oldest digests.</summary>
    public void Add(in ChunkDigest digest)
    {
        if (IsEmpty(digest)) return;
        var shard = ShardOf(digest);
        long outgrown;
        lock (shard)
        {
            if (shard.Add(digest, out outgrown)) Volatile.Write(ref _dropped, true);
        }
        // The runtime returns large arrays only when its own budget says so, long after a growing set has doubled
        // the peak: once they fill their share of the limit, a compacting collection hands them back.
        if (outgrown > 0 && Interlocked.Add(ref _outgrown, outgrown) >= _outgrownLimit)
        {
            Interlocked.Exchange(ref _outgrown, 0);
            DigestPartitions.ReleaseSlice();
        }
    }

    // The all-zero digest marks an empty slot; it is never kept (a real chunk never has it; a damaged index may).
    private static bool IsEmpty(in ChunkDigest digest) => digest.Equals(default);

    /// <summary>Digests held, in no particular order (a copy).</summary>
    public IReadOnlyCollection<ChunkDigest> ToList()
    {
        var list = new List<ChunkDigest>();
        foreach (var shard in _shards)
            lock (shard) list.AddRange(shard.Table.Where(d => !IsEmpty(d)));
        return list;
    }

    /// <summary>One shard's table; the caller holds its lock.</summary>
    private sealed class Shard(int slots, int maxSlots)
    {
        public ChunkDigest[] Table = new ChunkDigest[slots];
        // The generation each digest was last met in (modulo 256: ages stay far below, as drops keep them young).
        private byte[] _met = new byte[slots];
        // Digests held per generation, so that a drop knows where to cut without a pass over the table.
        private readonly int[] _held = new int[256];
        private int _count, _addedInGeneration;
        private byte _generation;

        /// <summary>Digests the table holds when full.</summary>
        public int Fill { get; } = Math.Max(1, (int)(MaxLoad * maxSlots));

        /// <summary>Whether the digest is held; if so it is now of the current generation.</summary>
        public bool Touch(in ChunkDigest digest) => Touch(Probe(Table, digest));

        private bool Touch(int slot)
        {
            if (IsEmpty(Table[slot])) return false;
            _held[_met[slot]]--;
            _held[_generation]++;
            _met[slot] = _generation;
            return true;
        }

        /// <summary>
        /// Adds the digest, or makes it young again if held; true when older digests were dropped for it.
        /// <paramref name="outgrown"/>: bytes of the arrays a growing table left behind.
        /// </summary>
        public bool Add(in ChunkDigest digest, out long outgrown)
        {
            outgrown = 0;
            var slot = Probe(Table, digest);
            if (Touch(slot)) return false;
            var dropped = _count >= Fill;
            var grow = !dropped && _count + 1 > MaxLoad * Table.Length && Table.Length < maxSlots;
            if (dropped)
                DropOldest();
            else if (grow)
            {
                outgrown = (long)Table.Length * BytesPerSlot;
                Grow();
            }
            // Slots moved: find the digest's place again.
            if (dropped || grow)
                slot = Probe(Table, digest);
            Table[slot] = digest;
            _met[slot] = _generation;
            _held[_generation]++;
            _count++;
            if (++_addedInGeneration >= Math.Max(1, Fill / Generations))
            {
                _generation++;
                _addedInGeneration = 0;
            }
            return dropped;
        }

        private void Grow()
        {
            var table = new ChunkDigest[(int)Math.Min(2L * Table.Length, maxSlots)];
            var met = new byte[table.Length];
            for (var i = 0; i < Table.Length; i++)
            {
                if (IsEmpty(Table[i])) continue;
                var slot = Probe(table, Table[i]);
                table[slot] = Table[i];
                met[slot] = _met[i];
            }
            Table = table;
            _met = met;
        }

        /// <summary>Drops the oldest generations until a generation's worth of the fill is free.</summary>
        private void DropOldest()
        {
            // Every age from `cut` up goes: the fewest oldest ages that leave room. When everything is of one age
            // (all of it met again lately), all of it goes.
            var keep = Fill - Math.Max(1, Fill / Generations);
            var cut = _held.Length;
            for (var left = _count; cut > 0 && left > keep;)
                left -= _held[(byte)(_generation - --cut)];
            // Start after an empty slot, so that no run of occupied slots wraps past the start.
            var start = Array.FindIndex(Table, d => IsEmpty(d));
            for (var k = 1; k <= Table.Length; k++)
            {
                var i = (start + k) % Table.Length;
                // The age first: one byte, and most slots are young or empty.
                while ((byte)(_generation - _met[i]) >= cut && !IsEmpty(Table[i]))
                    Remove(i);
            }
        }

        /// <summary>
        /// Empties a slot, moving back the entries after it that probed past it (backward-shift deletion): linear
        /// probing stops at the first empty slot, so a hole must not cut a probe sequence.
        /// </summary>
        private void Remove(int hole)
        {
            _count--;
            _held[_met[hole]]--;
            for (var i = Next(Table, hole); !IsEmpty(Table[i]); i = Next(Table, i))
            {
                var home = Home(Table, Table[i]);
                // The entry may fill the hole when the hole lies on its way from its home slot to where it is.
                if ((i - home + Table.Length) % Table.Length >= (i - hole + Table.Length) % Table.Length)
                {
                    Table[hole] = Table[i];
                    _met[hole] = _met[i];
                    hole = i;
                }
            }
            Table[hole] = default;
        }

        /// <summary>The slot holding the digest, or the empty slot where it would go.</summary>
        private static int Probe(ChunkDigest[] table, in ChunkDigest digest)
        {
            var slot = Home(table, digest);
            while (!IsEmpty(table[slot]) && !table[slot].Equals(digest))
                slot = Next(table, slot);
            return slot;
        }

        // The hash mixes words the shard index does not use; scaled to the table, whatever its length.
        private static int Home(ChunkDigest[] table, in ChunkDigest digest)
            => (int)((ulong)(uint)digest.GetHashCode() * (ulong)table.Length >> 32);

        private static int Next(ChunkDigest[] table, int slot) => slot + 1 == table.Length ? 0 : slot + 1;
    }
}
