using System.Text.Json;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Memory;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Memory;

public class DigestSeenSetTests
{
    private static ChunkDigest[] Digests(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => SyntheticStore.RandomDigest(random)).ToArray();
    }

    [Fact]
    public void HoldsEverythingWithinTheLimit()
    {
        var set = new DigestSeenSet(1 << 20);
        var digests = Digests(5000, 1);
        foreach (var d in digests) set.Add(d);
        Assert.True(set.IsComplete);
        Assert.Equal(5000, set.Count);
        Assert.All(digests, d => Assert.True(set.Contains(d)));
        Assert.All(Digests(100, 2), d => Assert.False(set.Contains(d)));
        Assert.Equal(digests.Order(), set.ToList().Order());
    }

    [Fact]
    public void OverTheLimitKeepsALowerSliceExactly()
    {
        const int capacity = 1000;
        var set = new DigestSeenSet(capacity * DigestSeenSet.MaxBytesPerDigest);
        var digests = Digests(20_000, 3);
        Parallel.ForEach(digests, d => set.Add(d));
        Assert.False(set.IsComplete);
        Assert.InRange(set.Count, 1, capacity);
        // Never a digest that was not added; every added digest of the kept slice; nothing above it.
        Assert.All(Digests(1000, 4), d => Assert.False(set.Contains(d)));
        var kept = digests.Where(d => d.LeadingWord <= set.Bound).ToList();
        Assert.All(kept, d => Assert.True(set.Contains(d)));
        Assert.Equal(kept.Order(), set.ToList().Order());
        Assert.All(digests.Where(d => d.LeadingWord > set.Bound), d => Assert.False(set.Contains(d)));
    }

    [Fact]
    public void ConcurrentAddsAndShrinksLoseNoDigestOfTheKeptSlice()
    {
        var set = new DigestSeenSet(300 * DigestSeenSet.MaxBytesPerDigest);
        var digests = Digests(50_000, 5);
        Parallel.For(0, 4, t =>
        {
            for (var i = t; i < digests.Length; i += 4)
            {
                set.Add(digests[i]);
                Assert.True(set.Contains(digests[i]) || digests[i].LeadingWord > set.Bound);
            }
        });
        Assert.Equal(digests.Where(d => d.LeadingWord <= set.Bound).Order(), set.ToList().Order());
    }
}

/// <summary>Verify with a seen-set far too small for the store gives the outcome of an unbounded one.</summary>
public class BoundedVerifyTests
{
    private static (string Results, string[] Files, long Loaded, int Remembered) Verify(bool fast, long memoryLimit)
    {
        using var copy = SparseStoreCopy.Create();
        var store = Datastore.Open(copy.StorePath, "store1", DatastoreConfig.Parse($"datastore: store1\n\tpath {copy.StorePath}\n"));
        var job = new VerifyJob(store, new VerifyOptions { Fast = fast, MemoryLimit = memoryLimit });
        var groups = store.ListNamespaces().SelectMany(ns => store.ListGroups(ns)).ToList();
        var results = job.VerifyGroups(groups, new RecordingTaskState());
        var summary = results.Select(r => new
        {
            r.BackupSnapshot.RelativePath,
            r.State,
            r.Error,
            Archives = r.Archives.Select(a => new { a.Filename, a.Error, a.ChunkErrors }),
        });
        var files = Directory.EnumerateFiles(copy.StorePath, "*", SearchOption.AllDirectories)
            .Where(f => !f.EndsWith("index.json.blob", StringComparison.Ordinal))
            .Select(f => Path.GetRelativePath(copy.StorePath, f)).Order(StringComparer.Ordinal).ToArray();
        return (JsonSerializer.Serialize(summary).Replace(copy.StorePath, "<STORE>"), files, job.Chunks.ChunksLoaded, job.Chunks.VerifiedChunks.Count);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SmallSeenSetGivesTheSameOutcome(bool fast)
    {
        var unbounded = Verify(fast, DigestPartitions.DefaultMemoryLimit);
        var bounded = Verify(fast, 8 * DigestSeenSet.MaxBytesPerDigest);
        Assert.Equal(unbounded.Results, bounded.Results);
        Assert.Equal(unbounded.Files, bounded.Files);
        Assert.InRange(bounded.Remembered, 0, 8);
        Assert.True(unbounded.Remembered > 8);
        if (!fast)
        {
            Assert.Equal((long)ReferenceStore.Expected["verify"]!["without_key"]!["chunks_loaded"]!, unbounded.Loaded);
            Assert.True(bounded.Loaded > unbounded.Loaded, "forgotten chunks are loaded again");
        }
    }
}
