using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Memory;
using PbsDatastore.Core.Store;

namespace PbsDatastore.Core.Maintenance;

/// <summary>
/// GC phase 1's set of referenced chunk digests. Phase 1 meets every index entry (millions, most of them repeats)
/// and asks "first time?" for each, so this set is built for exactly that: one writer and no lock while marking,
/// readers only afterwards; a slot is the 32 digest bytes and nothing else (an all-zero slot is empty, the all-zero
/// digest is kept aside). Open addressing with linear probing in 256 shards grown one at a time (doubled) at a load
/// of 3/4, so 43 to 85 bytes per unique chunk and a resize never holds more than one shard twice. A shard holds the digests
/// of one leading byte, so its chunks lie in 256 neighbouring prefix directories (<see cref="CopyShard"/>); within
/// it a digest's slot comes from its second word.
/// </summary>
internal sealed class ChunkMarkSet
{
    [StructLayout(LayoutKind.Sequential)]
    private struct Slot
    {
        public ulong A, B, C, D;
        public readonly bool IsEmpty => (A | B | C | D) == 0;
        public readonly bool Equals(in Slot o) => A == o.A && B == o.B && C == o.C && D == o.D;
    }

    private const int ShardBits = 8, MinShardCapacity = 16;

    public const int ShardCount = 1 << ShardBits;

    /// <summary>`.chunks` prefix directories of one shard.</summary>
    public const int DirectoriesPerShard = ChunkLayout.PrefixCount / ShardCount;

    /// <summary>Bytes per unique digest at worst (a shard just grown, at a load of 3/8), for memory limits.</summary>
    public const int MaxBytesPerDigest = 86;
    private readonly Slot[][] _shards = new Slot[1 << ShardBits][];
    private readonly int[] _counts = new int[1 << ShardBits];
    private bool _hasZero;

    /// <param name="expected">Unique digests expected: shards start large enough for them, so that they never grow
    /// (a grown shard leaves its old array to the runtime, which frees large arrays late).</param>
    /// <param name="range">The slice of the digest space the digests come from: only its shards are sized for them.</param>
    public ChunkMarkSet(long expected = 0, DigestRange? range = null)
    {
        var slice = range ?? DigestRange.All;
        var first = (int)(slice.First >> (64 - ShardBits));
        var last = (int)(slice.Last >> (64 - ShardBits));
        var capacity = ChunkDigestTable.ShardCapacityFor(expected, Math.Max(1, (int)Math.Round(slice.Fraction * ShardCount)), MinShardCapacity);
        for (var i = 0; i < _shards.Length; i++) _shards[i] = new Slot[i >= first && i <= last ? capacity : MinShardCapacity];
    }

    public long Count
    {
        get
        {
            long n = _hasZero ? 1 : 0;
            foreach (var c in _counts) n += c;
            return n;
        }
    }

    /// <summary>Bytes held by the slot arrays (for the memory-per-chunk figure).</summary>
    public long AllocatedBytes => _shards.Sum(s => (long)s.Length) * Unsafe.SizeOf<Slot>();

    // The digest's own bytes are uniformly distributed: the first byte picks the shard, and Fibonacci hashing of
    // the second word the slot (a hash, so that digests sharing leading bytes still spread).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ShardOf(in Slot key) => (int)(key.A & 0xff);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Hash(in Slot key) => key.B * 0x9E3779B97F4A7C15UL;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    // Scaled, not masked: shards are sized without rounding to a power of two (see ChunkDigestTable.ShardCapacityFor).
    private static int SlotOf(ulong hash, int length) => (int)(((hash >> 32) * (uint)length) >> 32);

    /// <summary>Adds the 32-byte digest; true the first time it is seen. Only one thread may add.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Add(ReadOnlySpan<byte> digest)
    {
        var key = MemoryMarshal.Read<Slot>(digest);
        if (key.IsEmpty)
        {
            if (_hasZero) return false;
            return _hasZero = true;
        }
        var hash = Hash(key);
        var shard = ShardOf(key);
        var slots = _shards[shard];
        for (var i = SlotOf(hash, slots.Length); ; i = i + 1 == slots.Length ? 0 : i + 1)
        {
            ref var slot = ref slots[i];
            if (slot.IsEmpty)
            {
                slot = key;
                if (++_counts[shard] * 4L > slots.Length * 3L) Grow(shard);
                return true;
            }
            if (slot.Equals(key)) return false;
        }
    }

    /// <summary>Whether the digest was added. Only once adding has finished.</summary>
    public bool Contains(in ChunkDigest digest)
    {
        Span<byte> bytes = stackalloc byte[ChunkDigest.Size];
        digest.WriteTo(bytes);
        var key = MemoryMarshal.Read<Slot>(bytes);
        if (key.IsEmpty) return _hasZero;
        var hash = Hash(key);
        var slots = _shards[ShardOf(key)];
        for (var i = SlotOf(hash, slots.Length); ; i = i + 1 == slots.Length ? 0 : i + 1)
        {
            ref readonly var slot = ref slots[i];
            if (slot.IsEmpty) return false;
            if (slot.Equals(key)) return true;
        }
    }

    /// <summary>Digests in one shard.</summary>
    public int ShardSize(int shard) => _counts[shard] + (shard == 0 && _hasZero ? 1 : 0);

    /// <summary>
    /// Copies the <see cref="ShardSize"/> digests of <paramref name="shard"/> into <paramref name="target"/>, grouped by
    /// prefix directory: those of directory <c>shard * DirectoriesPerShard + d</c> at
    /// <c>[starts[d], starts[d + 1])</c> (<paramref name="starts"/> has <see cref="DirectoriesPerShard"/> + 1 elements).
    /// Only once adding has finished.
    /// </summary>
    public void CopyShard(int shard, Span<ChunkDigest> target, Span<int> starts)
    {
        var slots = _shards[shard].AsSpan();
        starts.Clear();
        // A counting sort on the second byte, which names the directory within the shard.
        if (shard == 0 && _hasZero) starts[1]++;
        foreach (ref readonly var slot in slots)
            if (!slot.IsEmpty) starts[DirectoryOf(slot) + 1]++;
        for (var d = 1; d < starts.Length; d++) starts[d] += starts[d - 1];
        Span<int> next = stackalloc int[DirectoriesPerShard];
        starts[..DirectoriesPerShard].CopyTo(next);
        if (shard == 0 && _hasZero) target[next[0]++] = default;
        foreach (ref readonly var slot in slots)
            if (!slot.IsEmpty) target[next[DirectoryOf(slot)]++] = new ChunkDigest(MemoryMarshal.AsBytes(new ReadOnlySpan<Slot>(in slot)));
    }

    private static int DirectoryOf(in Slot slot) => (int)((slot.A >> 8) & 0xff);

    private void Grow(int shard)
    {
        var old = _shards[shard];
        var slots = new Slot[old.Length * 2];
        foreach (ref readonly var slot in old.AsSpan())
        {
            if (slot.IsEmpty) continue;
            var i = SlotOf(Hash(slot), slots.Length);
            while (!slots[i].IsEmpty) i = i + 1 == slots.Length ? 0 : i + 1;
            slots[i] = slot;
        }
        _shards[shard] = slots;
    }
}
