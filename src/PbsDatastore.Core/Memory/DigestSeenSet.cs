using PbsDatastore.Core.Formats;

namespace PbsDatastore.Core.Memory;

/// <summary>
/// A thread-safe set of digests already dealt with (verify's verified chunks), bounded by memory. It is a cache of
/// the most recently met digests: <see cref="Generations"/> open-addressing tables of bare 32-byte digests, the
/// newest taking the adds; when the newest is full the oldest is emptied and becomes the newest. A digest found in
/// an older table moves to the newest, so digests that keep recurring stay. Verify meets a group's snapshots one
/// after another and they share most chunks, so what recurs is recent: a store whose groups each fit the set is
/// stat'ed once per chunk, at any size. Membership is exact for what is kept and "not seen" for what was dropped:
/// a caller only ever redoes work it would skip with unbounded memory, never skips work it must do.
/// </summary>
public sealed class DigestSeenSet
{
    /// <summary>Tables kept: a digest survives until this many tables' worth of newer digests have been added.</summary>
    public const int Generations = 4;

    // A table is full at this load (linear probing over random digests: about 13 probes for a miss).
    private const double MaxLoad = 0.8;
    private const int MinSlots = 8, MaxShards = 64, SlotsPerShardAtLeast = 1024;

    private readonly Shard[] _shards;
    private readonly int _slots;
    private readonly object _rotateGate = new();
    private int _rotations;
    private bool _dropped;

    /// <param name="memoryLimit">Bytes the tables may take, all of them full.</param>
    public DigestSeenSet(long memoryLimit = DigestPartitions.DefaultMemoryLimit)
    {
        if (memoryLimit <= 0) throw new ArgumentOutOfRangeException(nameof(memoryLimit));
        var digests = memoryLimit / ChunkDigest.Size / Generations;
        // Many shards spread the locks of concurrent verify threads; a small limit gets fewer, so each keeps room.
        var shards = (int)Math.Clamp(digests / SlotsPerShardAtLeast, 1, MaxShards);
        _slots = (int)Math.Clamp(digests / shards, MinSlots, Array.MaxLength);
        _shards = new Shard[shards];
        for (var i = 0; i < shards; i++) _shards[i] = new Shard(Math.Min(_slots, 64));
    }

    /// <summary>Digests the set holds at most (every table full).</summary>
    public long Capacity => (long)(MaxLoad * _slots) * Generations * _shards.Length;

    /// <summary>Whether nothing was ever dropped: the set then holds every digest added.</summary>
    public bool IsComplete => !Volatile.Read(ref _dropped);

    private Shard ShardOf(in ChunkDigest digest) => _shards[(int)(digest.LeadingWord % (ulong)_shards.Length)];

    /// <summary>Whether the digest is held; one found in an older table moves to the newest.</summary>
    public bool Contains(in ChunkDigest digest)
    {
        if (IsEmpty(digest)) return false;
        var shard = ShardOf(digest);
        int rotation;
        lock (shard)
        {
            var age = shard.Find(digest, out var slot);
            if (age < 0) return false;
            if (age == 0 || !shard.Promote(age, slot, digest, _slots)) return true;
            rotation = _rotations;
        }
        Rotate(rotation);
        return true;
    }

    /// <summary>Adds the digest to the newest table; when that fills, the oldest table is dropped for a new one.</summary>
    public void Add(in ChunkDigest digest)
    {
        if (IsEmpty(digest)) return;
        var shard = ShardOf(digest);
        int rotation;
        lock (shard)
        {
            if (shard.Find(digest, out _) == 0 || !shard.TryInsert(digest, _slots, out var full) || !full) return;
            rotation = _rotations;
        }
        Rotate(rotation);
    }

    // The all-zero digest marks an empty slot; it is never kept (a real chunk never has it; a damaged index may).
    private static bool IsEmpty(in ChunkDigest digest) => digest.Equals(default);

    /// <summary>Digests held, in no particular order (a copy).</summary>
    public IReadOnlyCollection<ChunkDigest> ToList()
    {
        var list = new List<ChunkDigest>();
        foreach (var shard in _shards)
            lock (shard)
                foreach (var table in shard.Tables)
                    if (table is not null)
                        list.AddRange(table.Where(d => !IsEmpty(d)));
        return list;
    }

    /// <summary>
    /// Starts a new newest table in every shard (all at once: digests are uniform, so the shards fill together),
    /// unless another thread already did since <paramref name="seen"/>. The oldest table is emptied and reused, so
    /// that after the first tables no array is left to the runtime.
    /// </summary>
    private void Rotate(int seen)
    {
        lock (_rotateGate)
        {
            if (_rotations != seen) return;
            // The first tables grew on the way: return what growing left behind before full-size tables are added.
            if (_rotations == 0) DigestPartitions.ReleaseSlice();
            foreach (var shard in _shards)
            {
                lock (shard)
                {
                    var oldest = (shard.Newest + 1) % Generations;
                    if (shard.Counts[oldest] > 0) Volatile.Write(ref _dropped, true);
                    if (shard.Tables[oldest] is { } table && table.Length == _slots) Array.Clear(table);
                    else shard.Tables[oldest] = new ChunkDigest[_slots];
                    shard.Counts[oldest] = 0;
                    shard.Newest = oldest;
                }
            }
            _rotations++;
        }
    }

    /// <summary>One shard's ring of tables; the caller holds its lock.</summary>
    private sealed class Shard
    {
        public readonly ChunkDigest[]?[] Tables = new ChunkDigest[]?[Generations];
        public readonly int[] Counts = new int[Generations];
        public int Newest;

        public Shard(int slots) => Tables[0] = new ChunkDigest[slots];

        /// <summary>Age of the table holding the digest (0: the newest) and its slot there, or -1.</summary>
        public int Find(in ChunkDigest digest, out int slot)
        {
            for (var age = 0; age < Generations; age++)
            {
                var at = (Newest - age + Generations) % Generations;
                if (Counts[at] > 0 && Tables[at] is { } table && !IsEmpty(table[slot = Probe(table, digest)]))
                    return age;
            }
            slot = -1;
            return -1;
        }

        /// <summary>
        /// Adds a digest the newest table lacks, growing that table up to <paramref name="maxSlots"/>;
        /// <paramref name="full"/> when it is now full and a rotation is due. A table at its fill already (a
        /// rotation pending on another thread) takes nothing more: dropping a digest is always allowed.
        /// </summary>
        public bool TryInsert(in ChunkDigest digest, int maxSlots, out bool full)
        {
            var table = Tables[Newest]!;
            var fill = (int)(MaxLoad * maxSlots);
            full = false;
            if (Counts[Newest] >= fill && table.Length == maxSlots) return false;
            if (Counts[Newest] + 1 > MaxLoad * table.Length && table.Length < maxSlots)
                table = Tables[Newest] = Grown(table, maxSlots);
            table[Probe(table, digest)] = digest;
            full = ++Counts[Newest] >= fill && table.Length == maxSlots;
            return true;
        }

        /// <summary>Moves a digest from the slot where an older table holds it to the newest; true when a rotation is due.</summary>
        public bool Promote(int age, int slot, in ChunkDigest digest, int maxSlots)
        {
            if (!TryInsert(digest, maxSlots, out var full)) return false;
            var at = (Newest - age + Generations) % Generations;
            Remove(Tables[at]!, slot);
            Counts[at]--;
            return full;
        }

        /// <summary>
        /// Empties a slot, moving back the entries after it that probed past it (backward-shift deletion): linear
        /// probing stops at the first empty slot, so a hole must not cut a probe sequence.
        /// </summary>
        private static void Remove(ChunkDigest[] table, int hole)
        {
            for (var i = Next(table, hole); !IsEmpty(table[i]); i = Next(table, i))
            {
                var home = Home(table, table[i]);
                // The entry may fill the hole when the hole lies on its way from its home slot to where it is.
                if ((i - home + table.Length) % table.Length >= (i - hole + table.Length) % table.Length)
                {
                    table[hole] = table[i];
                    hole = i;
                }
            }
            table[hole] = default;
        }

        private static ChunkDigest[] Grown(ChunkDigest[] table, int maxSlots)
        {
            var grown = new ChunkDigest[(int)Math.Min(2L * table.Length, maxSlots)];
            foreach (var digest in table)
                if (!IsEmpty(digest))
                    grown[Probe(grown, digest)] = digest;
            return grown;
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
