using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PbsDatastore.Core.Formats;

namespace PbsDatastore.Core.Maintenance;

/// <summary>
/// GC phase 1's set of referenced chunk digests. Phase 1 meets every index entry (millions, most of them repeats)
/// and asks "first time?" for each, so this set is built for exactly that: one writer and no lock while marking,
/// readers only afterwards; a slot is the 32 digest bytes and nothing else (an all-zero slot is empty, the all-zero
/// digest is kept aside). Open addressing with linear probing in 256 shards grown one at a time at a load of 3/4,
/// so 43 to 85 bytes per unique chunk and a resize never holds more than one shard twice.
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

    /// <summary>Bytes per unique digest at worst (a shard just grown, at a load of 3/8), for memory limits.</summary>
    public const int MaxBytesPerDigest = 86;
    private readonly Slot[][] _shards = new Slot[1 << ShardBits][];
    private readonly int[] _counts = new int[1 << ShardBits];
    private bool _hasZero;

    /// <param name="expected">Unique digests expected: shards start large enough for them, so that they never grow
    /// (a grown shard leaves its old array to the runtime, which frees large arrays late).</param>
    public ChunkMarkSet(long expected = 0)
    {
        var capacity = ChunkDigestTable.ShardCapacityFor(expected, _shards.Length, MinShardCapacity);
        for (var i = 0; i < _shards.Length; i++) _shards[i] = new Slot[capacity];
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

    // The digest's own bytes are uniformly distributed; Fibonacci hashing of one word spreads them over shard
    // (top bits) and slot (the bits after).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Hash(in Slot key) => key.B * 0x9E3779B97F4A7C15UL;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int SlotOf(ulong hash, int mask) => (int)(hash >> (32 - ShardBits)) & mask;

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
        var shard = (int)(hash >> (64 - ShardBits));
        var slots = _shards[shard];
        var mask = slots.Length - 1;
        for (var i = SlotOf(hash, mask); ; i = (i + 1) & mask)
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
        var slots = _shards[(int)(hash >> (64 - ShardBits))];
        var mask = slots.Length - 1;
        for (var i = SlotOf(hash, mask); ; i = (i + 1) & mask)
        {
            ref readonly var slot = ref slots[i];
            if (slot.IsEmpty) return false;
            if (slot.Equals(key)) return true;
        }
    }

    private void Grow(int shard)
    {
        var old = _shards[shard];
        var slots = new Slot[old.Length * 2];
        var mask = slots.Length - 1;
        foreach (ref readonly var slot in old.AsSpan())
        {
            if (slot.IsEmpty) continue;
            var i = SlotOf(Hash(slot), mask);
            while (!slots[i].IsEmpty) i = (i + 1) & mask;
            slots[i] = slot;
        }
        _shards[shard] = slots;
    }
}
