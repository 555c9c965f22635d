using System.Buffers.Binary;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Memory;

namespace PbsDatastore.Core.Tests.Memory;

public class DigestPartitionsTests
{
    private static List<DigestRange> All(DigestPartitions partitions, Func<DigestRange, long>? count = null)
    {
        var ranges = new List<DigestRange>();
        for (var r = partitions.Next(); r is { } range; r = partitions.Next(count?.Invoke(range) ?? 0))
        {
            ranges.Add(range);
            Assert.True(ranges.Count <= 70000, "slices never end");
        }
        return ranges;
    }

    private static void AssertCoverExactly(IReadOnlyList<DigestRange> ranges)
    {
        Assert.Equal(0UL, ranges[0].First);
        Assert.Equal(ulong.MaxValue, ranges[^1].Last);
        for (var i = 0; i < ranges.Count; i++)
        {
            Assert.True(ranges[i].First <= ranges[i].Last);
            if (i > 0) Assert.Equal(ranges[i - 1].Last + 1, ranges[i].First);
        }
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 0)]
    [InlineData(7, 0)]
    [InlineData(1000, 0)]
    [InlineData(3, DigestPartitions.PrefixDirectoryBits)]
    [InlineData(65536, DigestPartitions.PrefixDirectoryBits)]
    public void FixedSlicesCoverTheDigestSpaceOnceInOrder(int count, int alignBits)
    {
        var ranges = All(DigestPartitions.Fixed(count, alignBits));
        Assert.Equal(count, ranges.Count);
        AssertCoverExactly(ranges);
        if (count == 1) Assert.True(ranges[0].IsAll);
        foreach (var r in ranges)
        {
            Assert.Equal(0UL, r.First % (1UL << alignBits));
            Assert.Equal(0.0, r.Fraction - 1.0 / count, 3);
        }
    }

    [Fact]
    public void TooManyAlignedSlicesAreRefused()
        => Assert.Throws<ArgumentOutOfRangeException>(() => DigestPartitions.Fixed(65537, DigestPartitions.PrefixDirectoryBits));

    [Fact]
    public void ContainsUsesTheLeadingEightBytesBigEndian()
    {
        var bytes = new byte[32];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, 0x1234_0000_0000_0000UL);
        var digest = new ChunkDigest(bytes);
        Assert.Equal(0x1234, digest.PrefixIndex);
        Assert.True(new DigestRange(0x1234_0000_0000_0000UL, 0x1234_ffff_ffff_ffffUL).Contains(digest));
        Assert.True(new DigestRange(0x1234_0000_0000_0000UL, 0x1234_ffff_ffff_ffffUL).Contains(bytes));
        Assert.False(new DigestRange(0x1235_0000_0000_0000UL, ulong.MaxValue).Contains(digest));
        Assert.False(new DigestRange(0, 0x1233_ffff_ffff_ffffUL).Contains(digest));
    }

    [Fact]
    public void EverythingThatFitsIsOnePass()
    {
        var ranges = All(new DigestPartitions(1 << 20, 100, 9000));
        Assert.Equal([DigestRange.All], ranges);
    }

    [Fact]
    public void SlicesFollowTheDensityTheFirstPassFinds()
    {
        // 200,000 unique digests among 2,000,000 entries, 10,000 digests to a slice: the entry count alone would
        // ask for 223 passes; the density the first slice shows needs about 23.
        var random = new Random(5);
        var digests = Enumerable.Range(0, 200_000).Select(_ => (ulong)random.NextInt64() << 1 ^ (ulong)random.Next(2)).ToArray();
        var partitions = new DigestPartitions(1_000_000, 90, 2_000_000);
        Assert.Equal(10_000, partitions.Capacity);
        var counts = new List<long>();
        var ranges = All(partitions, r =>
        {
            var n = digests.LongCount(d => r.Contains(d));
            counts.Add(n);
            return n;
        });
        AssertCoverExactly(ranges);
        Assert.InRange(ranges.Count, 21, 30);
        Assert.All(counts, n => Assert.True(n <= 11_111, $"a slice held {n} digests"));
        Assert.Equal(digests.Length, counts.Sum());
    }

    [Fact]
    public void EmptyFirstSliceTakesTheRest()
    {
        var ranges = All(new DigestPartitions(1000, 100, 1_000_000), _ => 0);
        Assert.Equal(2, ranges.Count);
        AssertCoverExactly(ranges);
    }

    [Fact]
    public void AnEstimateThatFitsIsOnePassSizedForIt()
    {
        // 4 M entries would need two slices at 2.5 M digests a slice; the 1 M unique chunks they hold fit in one.
        var partitions = new DigestPartitions(250_000_000, 90, 4_000_000);
        Assert.True(partitions.WantsEstimate);
        partitions.SetEstimate(1_000_000);
        Assert.Equal(DigestRange.All, partitions.Next());
        Assert.Equal(1_000_000, partitions.ExpectedDigests);
        Assert.Null(partitions.Next(1_000_000));
    }

    [Fact]
    public void WithoutAnEstimateTheFirstSliceFitsEvenIfNothingRepeats()
    {
        var partitions = new DigestPartitions(1_000_000, 100, 100_000);
        var first = partitions.Next()!.Value;
        Assert.InRange(first.Fraction, 0.08, 0.1);
        Assert.Equal(0, partitions.ExpectedDigests); // unknown: the set grows
        partitions.Next(900);
        // 900 digests in 9 % of the space: about 10,000 in all, the other 9,100 in two slices of about 4,550.
        Assert.InRange(partitions.ExpectedDigests, 4000, 5000);
    }

    [Theory]
    [InlineData(5_000, 5_000)]
    [InlineData(200_000, 2_000_000)]
    [InlineData(3_000_000, 12_000_000)]
    public void SampleEstimatesUniqueDigestsFromASmallSlice(int unique, int entries)
    {
        var random = new Random(unique);
        var digests = new byte[unique * 32];
        random.NextBytes(digests);
        var sample = new DigestSample(entries);
        // Each digest repeated entries/unique times, in index-like runs of 1000 entries (one entry = the digest).
        var index = new byte[1000 * 32];
        for (int n = 0, filled = 0; n < entries; n++)
        {
            var d = n % unique;
            digests.AsSpan(d * 32, 32).CopyTo(index.AsSpan(filled * 32));
            if (++filled == 1000 || n == entries - 1)
            {
                sample.AddEntries(index.AsSpan(0, filled * 32), 32);
                filled = 0;
            }
        }
        // Never much below (a slice sized from it would overflow), at most 10 % above.
        Assert.InRange(sample.Estimate, unique, unique * 1.1 + 10);
    }
}
