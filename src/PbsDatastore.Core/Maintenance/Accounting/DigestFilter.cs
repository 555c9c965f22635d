using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using PbsDatastore.Core.Formats;

namespace PbsDatastore.Core.Maintenance;

/// <summary>
/// A blocked Bloom filter over a table's digests: each digest sets three bits of one 64-bit word, so that a digest
/// the table does not hold is ruled out with one load instead of a probe of the table, which misses the caches.
/// At 32 bits per digest it errs for about 0.2% of foreign digests, and a group's filter (128 KiB for 30,000
/// chunks) stays in a core's L2 cache while the index bytes stream past; one bit per digest in a plain bit array
/// of L2's size would be evicted by that stream. It hashes the index entry's raw bytes, so a rejected digest is
/// never decoded. Built once the table is complete; read-only after.
/// </summary>
internal sealed class DigestFilter
{
    private const int BitsPerDigest = 32;

    private readonly ulong[] _words;
    private readonly int _shift;

    public DigestFilter(ChunkDigestTable table)
    {
        var words = Math.Max(1, table.Count * BitsPerDigest / 64);
        var log2 = 64 - BitOperations.LeadingZeroCount((ulong)words - 1);
        _words = new ulong[1L << log2];
        _shift = 64 - log2;
        Span<byte> raw = stackalloc byte[ChunkDigest.Size];
        for (var shard = 0; shard < table.ShardCount; shard++)
            foreach (ref readonly var entry in table.ShardSlots(shard))
                if (entry.State != 0)
                {
                    entry.Digest.WriteTo(raw);
                    var hash = Hash(raw);
                    _words[Word(hash)] |= Mask(hash);
                }
    }

    public long AllocatedBytes => _words.LongLength * sizeof(ulong);

    /// <summary>False when the table surely does not hold the digest whose 32 bytes are <paramref name="digest"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool MayContain(ReadOnlySpan<byte> digest)
    {
        var hash = Hash(digest);
        var mask = Mask(hash);
        return (_words[Word(hash)] & mask) == mask;
    }

    // The first and last words, so that digests made alike at either end (tests) still spread; Fibonacci hashing
    // with a multiplier other than the table's, so that the filter's bits do not follow the table's slots.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Hash(ReadOnlySpan<byte> digest)
        => (BinaryPrimitives.ReadUInt64LittleEndian(digest) ^ BinaryPrimitives.ReadUInt64LittleEndian(digest[24..])) * 0xD6E8FEB86659FD93UL;

    // The word from the top bits, the three bits from the next 18: the well-mixed end of the product.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long Word(ulong hash) => _shift == 64 ? 0 : (long)(hash >> _shift);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong Mask(ulong hash)
    {
        var bits = hash << (64 - _shift) >> 46;
        return (1UL << (int)(bits & 63)) | (1UL << (int)((bits >> 6) & 63)) | (1UL << (int)(bits >> 12));
    }
}
