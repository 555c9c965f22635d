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
        Assert.All(digests, d => Assert.True(set.Contains(d)));
        Assert.All(Digests(100, 2), d => Assert.False(set.Contains(d)));
        Assert.Equal(digests.Order(), set.ToList().Order());
    }

    [Fact]
    public void TheAllZeroDigestIsNeverHeld()
    {
        // It marks an empty slot: held, it would make every empty slot a match.
        var set = new DigestSeenSet(1 << 20);
        set.Add(default);
        Assert.False(set.Contains(default));
        Assert.Empty(set.ToList());
    }

    [Fact]
    public void OverTheLimitKeepsTheRecentDigestsExactly()
    {
        var set = new DigestSeenSet(64 << 10);
        var digests = Digests(20_000, 3);
        foreach (var d in digests) set.Add(d);
        Assert.False(set.IsComplete);
        var held = set.ToList();
        // A drop frees a generation's worth of the fill, no more.
        Assert.InRange(held.Count, set.Capacity * (DigestSeenSet.Generations - 1) / DigestSeenSet.Generations - 1, set.Capacity);
        Assert.True(set.Capacity >= (64 << 10) / 52, "a digest per 52 bytes of the limit or less");
        // Never a digest that was not added; the newest are all held, and what is held is the newest run.
        Assert.All(Digests(1000, 4), d => Assert.False(set.Contains(d)));
        Assert.Equal(digests[^held.Count..].Order(), held.Order());
        // Drops moved the others back along their probe runs: every digest held is still found.
        Assert.All(held, d => Assert.True(set.Contains(d)));
    }

    [Fact]
    public void ADigestMetAgainIsKept()
    {
        var set = new DigestSeenSet(64 << 10);
        var hot = Digests(10, 6);
        var stream = Digests(50_000, 7);
        foreach (var d in hot) set.Add(d);
        for (var i = 0; i < stream.Length; i++)
        {
            set.Add(stream[i]);
            if (i % 500 == 0) Assert.All(hot, d => Assert.True(set.Contains(d)));
        }
        Assert.False(set.IsComplete);
        Assert.All(hot, d => Assert.True(set.Contains(d)));
        Assert.False(set.Contains(stream[0]));
        // Moved, not copied: each digest is held once, and the rest of the set is intact.
        var held = set.ToList();
        Assert.Equal(held.Count, held.Distinct().Count());
        Assert.Subset(hot.Concat(stream).ToHashSet(), held.ToHashSet());
        Assert.InRange(held.Count, set.Capacity / DigestSeenSet.Generations, set.Capacity);
    }

    [Fact]
    public void ConcurrentAddsAndRotationsKeepOnlyAddedDigests()
    {
        var set = new DigestSeenSet(64 << 10);
        var digests = Digests(50_000, 5);
        var added = new bool[digests.Length];
        Parallel.For(0, 4, t =>
        {
            for (var i = t; i < digests.Length; i += 4)
            {
                set.Add(digests[i]);
                Volatile.Write(ref added[i], true);
                set.Contains(digests[i - (i >= 400 ? 400 : 0)]);
            }
        });
        Assert.False(set.IsComplete);
        var known = digests.ToHashSet();
        var held = set.ToList();
        Assert.All(held, d => Assert.Contains(d, known));
        Assert.Equal(held.Count, held.Distinct().Count());
        Assert.InRange(held.Count, set.Capacity / DigestSeenSet.Generations, set.Capacity);
        // Still a working set after the races: what comes next is held.
        var next = Digests(300, 8);
        foreach (var d in next) set.Add(d);
        Assert.All(next, d => Assert.True(set.Contains(d)));
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
            // What the run wrote into the manifest (the UPID differs per run; the state must not).
            Written = WrittenState(r.BackupSnapshot.ManifestPath),
            Archives = r.Archives.Select(a => new { a.Filename, a.Error, a.ChunkErrors }),
        });
        var files = Directory.EnumerateFiles(copy.StorePath, "*", SearchOption.AllDirectories)
            .Where(f => !f.EndsWith("index.json.blob", StringComparison.Ordinal))
            .Select(f => Path.GetRelativePath(copy.StorePath, f)).Order(StringComparer.Ordinal).ToArray();
        return (JsonSerializer.Serialize(summary).Replace(copy.StorePath, "<STORE>"), files, job.Chunks.ChunksLoaded, job.Chunks.VerifiedChunks.Count);
    }

    private static string? WrittenState(string manifest)
    {
        try { return BackupManifest.Load(manifest).VerifyState?.State; }
        catch (PbsException e) { return e.ErrorId; }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SmallSeenSetGivesTheSameOutcome(bool fast)
    {
        var unbounded = Verify(fast, DigestPartitions.DefaultMemoryLimit);
        // The smallest set (16 slots, 12 digests), fewer than the store's chunks.
        var smallest = new DigestSeenSet(1).Capacity;
        var bounded = Verify(fast, 512);
        Assert.Equal(unbounded.Results, bounded.Results);
        Assert.Equal(unbounded.Files, bounded.Files);
        Assert.InRange(bounded.Remembered, 0, smallest);
        Assert.True(unbounded.Remembered > smallest);
        if (!fast)
        {
            Assert.Contains("\"Written\":\"failed\"", bounded.Results);
            Assert.Contains("\"Written\":\"ok\"", bounded.Results);
            Assert.Equal((long)ReferenceStore.Expected["verify"]!["without_key"]!["chunks_loaded"]!, unbounded.Loaded);
            Assert.True(bounded.Loaded > unbounded.Loaded, "forgotten chunks are loaded again");
        }
    }
}
