using System.Buffers.Binary;
using PbsDatastore.Core.Formats;

namespace PbsDatastore.Core.Memory;

/// <summary>
/// A slice of the digest space: the digests whose leading 64 bits (read big-endian, so a range is also a run of
/// `.chunks` prefix directories in name order) lie in [<see cref="First"/>, <see cref="Last"/>].
/// </summary>
public readonly record struct DigestRange(ulong First, ulong Last)
{
    public static readonly DigestRange All = new(0, ulong.MaxValue);

    public bool IsAll => First == 0 && Last == ulong.MaxValue;

    public bool Contains(in ChunkDigest digest) => Contains(digest.LeadingWord);

    public bool Contains(ReadOnlySpan<byte> digest) => Contains(BinaryPrimitives.ReadUInt64BigEndian(digest));

    public bool Contains(ulong leadingWord) => leadingWord - First <= Last - First;

    /// <summary>Share of the whole digest space (1 for <see cref="All"/>).</summary>
    public double Fraction => ((double)(Last - First) + 1) / 18446744073709551616.0;
}

/// <summary>
/// Bounds the memory of an exact set of unique digests at any store size: instead of one pass over the index files
/// holding every unique digest, k passes each hold only the digests of one slice of the digest space, and what a
/// caller computes per digest (mark, verify, count) is the same because every digest falls in exactly one slice.
/// Index reads are sequential and cheap next to the memory they save.
/// <para>
/// The first slice is sized from an estimate of the unique digests (a <see cref="DigestSample"/>), or failing one
/// from an upper bound (the number of index entries) so that it fits even if no digest repeats. Digests are
/// uniformly distributed, so the count each pass finds measures the real density, and the remaining space is cut
/// into as few slices as fit the limit at that density. A limit that holds everything gives one pass over
/// <see cref="DigestRange.All"/>. <see cref="ExpectedDigests"/> lets a set be allocated at its final size once,
/// instead of growing: the arrays a growing set leaves behind are large objects the runtime frees late, and they
/// would double the peak.
/// </para>
/// </summary>
public sealed class DigestPartitions
{
    /// <summary>Default memory limit for the digest sets of GC, verify and space accounting.</summary>
    public const long DefaultMemoryLimit = 256L << 20;

    /// <summary>Alignment that makes every slice a run of whole `.chunks` prefix directories (2 bytes of 8).</summary>
    public const int PrefixDirectoryBits = 48;

    // Slices are cut a little below the limit: a slice's count varies around its expectation.
    private const double Headroom = 0.9;

    private readonly long _capacity;
    private readonly int _alignBits;
    private int _forced;
    private ulong _next;
    private bool _done;
    private long _counted;
    private double _covered;
    private long _estimate;
    private bool _estimated;

    /// <param name="memoryLimit">Bytes the set may hold at once.</param>
    /// <param name="bytesPerDigest">What one digest costs the set at worst (slot size over the lowest load factor).</param>
    /// <param name="maxDigests">An upper bound on the unique digests, e.g. the number of index entries.</param>
    /// <param name="alignBits">Slice boundaries are multiples of 2^alignBits (at most 2^(64-alignBits) slices).</param>
    public DigestPartitions(long memoryLimit, int bytesPerDigest, long maxDigests, int alignBits = 0)
    {
        if (memoryLimit <= 0) throw new ArgumentOutOfRangeException(nameof(memoryLimit));
        if (bytesPerDigest <= 0) throw new ArgumentOutOfRangeException(nameof(bytesPerDigest));
        if (alignBits is < 0 or > 56) throw new ArgumentOutOfRangeException(nameof(alignBits));
        _capacity = Math.Max(1, (long)(memoryLimit * Headroom / bytesPerDigest));
        _alignBits = alignBits;
        MaxDigests = Math.Max(0, maxDigests);
        _estimate = MaxDigests;
    }

    /// <summary>
    /// Whether an estimate of the unique digests would pay for its extra read of the indexes: when the upper bound
    /// does not fit the limit, or the set is large enough for its growth to matter.
    /// </summary>
    public bool WantsEstimate => _forced == 0 && Passes == 0 && MaxDigests > _capacity / 8;

    /// <summary>Sizes the first slice (and its set) from an estimate of the unique digests instead of the upper bound.</summary>
    public void SetEstimate(long digests)
    {
        if (Passes > 0) throw new InvalidOperationException("the estimate sizes the first slice");
        _estimate = Math.Clamp(digests, 0, MaxDigests);
        _estimated = true;
    }

    /// <summary>Exactly <paramref name="count"/> equal slices, whatever the memory (for tests and comparisons).</summary>
    public static DigestPartitions Fixed(int count, int alignBits = 0)
    {
        if (count < 1 || (alignBits > 0 && count > 1L << (64 - alignBits))) throw new ArgumentOutOfRangeException(nameof(count));
        return new DigestPartitions(long.MaxValue, 1, 0, alignBits) { _forced = count };
    }

    public long MaxDigests { get; }

    /// <summary>Digests one slice may hold within the limit.</summary>
    public long Capacity => _capacity;

    /// <summary>Unique digests the slice last handed out is expected to hold (0 when unknown).</summary>
    public long ExpectedDigests { get; private set; }

    /// <summary>Slices handed out so far.</summary>
    public int Passes { get; private set; }

    /// <summary>
    /// The next slice, or null when the whole space is covered. <paramref name="previousCount"/> is the number of
    /// unique digests the previous slice held (ignored on the first call).
    /// </summary>
    public DigestRange? Next(long previousCount = 0)
    {
        if (_done) return null;
        if (Passes > 0)
        {
            _counted += previousCount;
            _covered = Math.Min(1.0, _covered + Last.Fraction);
        }
        var remaining = 1.0 - _covered;
        double width;
        if (_forced > 0)
            width = Passes == _forced - 1 ? remaining : 1.0 / _forced;
        else if (Passes == 0)
            width = _estimate <= _capacity ? 1.0 : (double)_capacity / _estimate;
        else if (_counted == 0)
            width = remaining;
        else
        {
            // Equal slices over what is left, each expected to hold at most the capacity at the density seen so far.
            var expected = _counted / _covered * remaining;
            var slices = Math.Max(1.0, Math.Ceiling(expected / _capacity));
            width = remaining / slices;
        }
        var first = _next;
        ulong last;
        if (width >= remaining - 1e-12 || (_forced > 0 && Passes == _forced - 1) || ulong.MaxValue - first < (1UL << _alignBits))
        {
            last = ulong.MaxValue;
            _done = true;
        }
        else
        {
            var span = (ulong)Math.Clamp(width * 18446744073709551616.0, 1.0, 18446744073709549568.0);
            // Rounded to the alignment: up, but never past the end.
            var unit = 1UL << _alignBits;
            span = span / unit * unit + (span % unit == 0 ? 0 : unit);
            if (span == 0) span = ulong.MaxValue - first + 1;
            last = ulong.MaxValue - first < span ? ulong.MaxValue : first + span - 1;
            _done = last == ulong.MaxValue;
            _next = last + 1;
        }
        Passes++;
        Last = new DigestRange(first, last);
        // Unknown for forced slices and for a first slice sized from the upper bound (the set then grows).
        var density = _forced > 0 ? 0 : Passes > 1 ? _counted / _covered : _estimated ? _estimate : 0;
        ExpectedDigests = (long)Math.Min(MaxDigests, Math.Ceiling(density * Last.Fraction));
        return Last;
    }

    private DigestRange Last { get; set; }

    /// <summary>
    /// Returns the memory of the previous slice's set to the system; call it after dropping the set and before the
    /// next one fills. The runtime otherwise keeps the freed arrays mapped, and peak RSS grows with every pass.
    /// </summary>
    public static void ReleaseSlice()
        => GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
}
