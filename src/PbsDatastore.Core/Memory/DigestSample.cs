using System.Buffers.Binary;

namespace PbsDatastore.Core.Memory;

/// <summary>
/// Estimates the unique digests among many index entries with little memory: only the digests of a small slice
/// at the bottom of the digest space (about 65536 of the entries) are kept, and digests are uniformly
/// distributed, so their count scaled by the slice's share estimates the whole. The estimate only sizes slices
/// and sets (<see cref="DigestPartitions.SetEstimate"/>); no result depends on it. Thread-safe.
/// </summary>
public sealed class DigestSample
{
    private const int TargetEntries = 1 << 16;

    private readonly HashSet<ulong> _seen = new();
    private readonly int _bits;
    private readonly ulong _last;

    /// <param name="maxDigests">Index entries to be added (an upper bound on the unique digests).</param>
    public DigestSample(long maxDigests)
    {
        // The slice is 2^-k of the space, k as small as keeps the sampled entries near the target.
        var k = 0;
        while (k < 48 && maxDigests >> k > TargetEntries) k++;
        _bits = k;
        _last = ulong.MaxValue >> k;
    }

    /// <summary>Adds the digests of one index's entries (digest last in each <paramref name="stride"/>-byte entry).</summary>
    public void AddEntries(ReadOnlySpan<byte> entries, int stride)
    {
        List<ulong>? sampled = null;
        for (var off = stride - 32; off < entries.Length; off += stride)
        {
            var word = BinaryPrimitives.ReadUInt64BigEndian(entries[off..]);
            if (word <= _last) (sampled ??= []).Add(word);
        }
        if (sampled is null) return;
        lock (_seen)
            foreach (var word in sampled) _seen.Add(word);
    }

    /// <summary>
    /// Unique digests, scaled up from the sample with three standard deviations of margin (the sample's count is
    /// binomial), so that a slice sized from it rarely overflows.
    /// </summary>
    public long Estimate
    {
        get
        {
            long count;
            lock (_seen) count = _seen.Count;
            if (_bits == 0) return count;
            return (long)Math.Ceiling((count + 3 * Math.Sqrt(count) + 1) * Math.Pow(2, _bits));
        }
    }
}
