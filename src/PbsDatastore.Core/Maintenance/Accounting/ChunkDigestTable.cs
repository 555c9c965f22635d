using System.Runtime.CompilerServices;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Memory;

namespace PbsDatastore.Core.Maintenance;

/// <summary>How <see cref="ChunkDigestTable.Update{T}"/> changes the state of one chunk; a struct so the JIT inlines it.</summary>
internal interface IChunkStateUpdate
{
    /// <summary>New state from the old one (0 for a chunk not seen before). Must not set <see cref="ChunkDigestTable.Occupied"/>.</summary>
    uint Apply(uint state);
}

/// <summary>
/// The set of unique chunk digests met in one pass over a store's indexes, each with 31 bits of caller state and
/// a 32-bit size. Memory is per unique chunk, never per reference: 40 bytes a slot, open addressing with linear
/// probing at a load of 3/8 to 3/4, so 53 to 107 bytes per chunk. The table is split into shards by digest
/// prefix, each with its own lock and grown on its own: worker threads insert concurrently, and growing never
/// holds more than one shard's old and new slot arrays at once.
/// </summary>
internal sealed class ChunkDigestTable
{
    /// <summary>Marks a used slot; every other state bit belongs to the caller.</summary>
    public const uint Occupied = 1u << 31;

    internal struct Entry
    {
        public ChunkDigest Digest;
        public uint State;
        public uint Size;
    }

    internal sealed class Shard
    {
        public Entry[] Slots;
        public int Count;

        public Shard(int capacity) => Slots = new Entry[capacity];
    }

    /// <summary>Bytes per unique digest at worst (a shard just grown, at a load of 3/8), for memory limits.</summary>
    public const int MaxBytesPerDigest = 107;

    private const int MinShardCapacity = 16;
    private readonly Shard[] _shards;
    private readonly int _shardBits;

    /// <param name="shardBits">log2 of the shard count: 8 for a whole store, 0 for a handful of digests.</param>
    /// <param name="expected">Unique digests expected: shards start large enough for them, so that they never grow
    /// (a grown shard leaves its old array to the runtime, which frees large arrays late).</param>
    /// <param name="range">The slice of the digest space the digests come from: only its shards are sized for them.</param>
    public ChunkDigestTable(int shardBits = 8, long expected = 0, DigestRange? range = null)
    {
        if (shardBits is < 0 or > 16) throw new ArgumentOutOfRangeException(nameof(shardBits));
        _shards = new Shard[1 << shardBits];
        var slice = range ?? DigestRange.All;
        int first = shardBits == 0 ? 0 : (int)(slice.First >> (64 - shardBits)), last = shardBits == 0 ? 0 : (int)(slice.Last >> (64 - shardBits));
        var capacity = ShardCapacityFor(expected, Math.Max(1, (int)Math.Round(slice.Fraction * _shards.Length)), MinShardCapacity);
        for (var i = 0; i < _shards.Length; i++) _shards[i] = new Shard(i >= first && i <= last ? capacity : MinShardCapacity);
        _shardBits = shardBits;
    }

    /// <summary>
    /// Slots per shard that hold <paramref name="expected"/> digests spread over the shards below the load of 3/4
    /// that grows a shard, with three standard deviations of margin for the fullest shards. Not rounded to a power of
    /// two (a slot is found by scaling the hash): a table sized once costs the same per digest at any count, instead
    /// of up to twice as much just past a power of two.
    /// </summary>
    internal static int ShardCapacityFor(long expected, int shards, int minimum)
    {
        var perShard = (double)Math.Max(0, expected) / shards;
        return (int)Math.Clamp(Math.Ceiling((perShard + 3 * Math.Sqrt(perShard)) * 4 / 3), minimum, 1 << 30);
    }

    public int ShardCount => _shards.Length;

    /// <summary>`.chunks` prefix directories a shard's digests fall in.</summary>
    public int DirectoriesPerShard => 1 << (16 - _shardBits);

    /// <summary>Which of its shard's prefix directories (0 to <see cref="DirectoriesPerShard"/> - 1) holds the digest.</summary>
    public int DirectoryInShard(in ChunkDigest digest) => digest.PrefixIndex & (DirectoriesPerShard - 1);

    /// <summary>Bytes of the <see cref="DigestFilter"/> built over the table, if any (for the memory figure).</summary>
    public long FilterBytes { get; set; }

    /// <summary>Digests in one shard.</summary>
    public int ShardCountOf(int shard) => Volatile.Read(ref _shards[shard].Count);

    /// <summary>Slots of one shard (empty ones have State 0). Only while no thread updates that shard.</summary>
    public Span<Entry> ShardSlots(int shard) => _shards[shard].Slots;

    public long Count
    {
        get
        {
            long n = 0;
            foreach (var shard in _shards) n += Volatile.Read(ref shard.Count);
            return n;
        }
    }

    /// <summary>Bytes held by the slot arrays (for the memory-per-chunk figure).</summary>
    public long AllocatedBytes
    {
        get
        {
            long n = 0;
            foreach (var shard in _shards) n += (long)shard.Slots.Length * Unsafe.SizeOf<Entry>();
            return n;
        }
    }

    // Fibonacci hashing spreads the digest's own hash over the top bits, which pick the slot.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Mix(in ChunkDigest digest) => (uint)digest.GetHashCode() * 0x9E3779B97F4A7C15UL;

    // The shard is the digest's leading bits, so a shard's chunks share a few prefix directories and a pass over
    // the table in shard order (one stat per chunk) meets the chunk store directory by directory. Digests that are
    // not uniform only unbalance the shards; the slots still come from the hash.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int ShardIndexOf(in ChunkDigest digest) => digest.PrefixIndex >> (16 - _shardBits);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int SlotOf(ulong hash, int length) => (int)(((hash >> 32) * (uint)length) >> 32);

    /// <summary>Adds the digest if new and applies <paramref name="update"/> to its state. Thread-safe.</summary>
    public void Update<T>(in ChunkDigest digest, T update) where T : struct, IChunkStateUpdate
    {
        var hash = Mix(digest);
        var shard = _shards[ShardIndexOf(digest)];
        lock (shard)
        {
            ref var entry = ref FindOrInsert(shard, digest, hash);
            entry.State = update.Apply(entry.State & ~Occupied) | Occupied;
        }
    }

    /// <summary>Shard of a digest, for callers that gather digests per shard for <see cref="UpdateShard{T}"/>.</summary>
    public int ShardIndex(in ChunkDigest digest) => ShardIndexOf(digest);

    /// <summary>
    /// <see cref="Update{T}"/> for digests that all belong to shard <paramref name="shard"/>, under one lock and
    /// with their slots prefetched first so that the memory accesses overlap. Thread-safe.
    /// </summary>
    public unsafe void UpdateShard<T>(int shard, ReadOnlySpan<ChunkDigest> digests, T update) where T : struct, IChunkStateUpdate
    {
        var s = _shards[shard];
        lock (s)
        {
            if (System.Runtime.Intrinsics.X86.Sse.IsSupported)
            {
                var slots = s.Slots;
                foreach (ref readonly var digest in digests)
                    System.Runtime.Intrinsics.X86.Sse.Prefetch0(Unsafe.AsPointer(ref slots[SlotOf(Mix(digest), slots.Length)]));
            }
            foreach (ref readonly var digest in digests)
            {
                ref var entry = ref FindOrInsert(s, digest, Mix(digest));
                entry.State = update.Apply(entry.State & ~Occupied) | Occupied;
            }
        }
    }

    /// <summary>
    /// Sets <paramref name="bits"/> in the state of <paramref name="digest"/> if the table holds it. Thread-safe
    /// while no thread inserts.
    /// </summary>
    public void TryMark(in ChunkDigest digest, uint bits)
    {
        ref var entry = ref Find(digest);
        if (!Unsafe.IsNullRef(ref entry)) Interlocked.Or(ref entry.State, bits);
    }

    /// <summary>The entry of <paramref name="digest"/>, or a null ref. Only while no thread updates the table.</summary>
    public ref Entry Find(in ChunkDigest digest)
    {
        var hash = Mix(digest);
        var slots = _shards[ShardIndexOf(digest)].Slots;
        for (var i = SlotOf(hash, slots.Length); ; i = i + 1 == slots.Length ? 0 : i + 1)
        {
            ref var entry = ref slots[i];
            if (entry.State == 0) return ref Unsafe.NullRef<Entry>();
            if (entry.Digest == digest) return ref entry;
        }
    }

    private ref Entry FindOrInsert(Shard shard, in ChunkDigest digest, ulong hash)
    {
        var slots = shard.Slots;
        for (var i = SlotOf(hash, slots.Length); ; i = i + 1 == slots.Length ? 0 : i + 1)
        {
            ref var entry = ref slots[i];
            if (entry.State != 0)
            {
                if (entry.Digest == digest) return ref entry;
                continue;
            }
            if ((shard.Count + 1) * 4L > slots.Length * 3L)
            {
                Grow(shard);
                return ref FindOrInsert(shard, digest, hash);
            }
            entry.Digest = digest;
            entry.State = Occupied;
            Volatile.Write(ref shard.Count, shard.Count + 1);
            return ref entry;
        }
    }

    private void Grow(Shard shard)
    {
        var old = shard.Slots;
        var slots = new Entry[old.Length * 2];
        foreach (ref readonly var entry in old.AsSpan())
        {
            if (entry.State == 0) continue;
            var i = SlotOf(Mix(entry.Digest), slots.Length);
            while (slots[i].State != 0) i = i + 1 == slots.Length ? 0 : i + 1;
            slots[i] = entry;
        }
        shard.Slots = slots;
    }
}
