using System.Text.Json;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Memory;

/// <summary>GC marked in many passes over slices of the digest space gives the same result as one pass, byte for byte.</summary>
public class PartitionedGarbageCollectionTests
{
    private sealed record Outcome(string Result, string[] Lines, string[] Files, IReadOnlyList<string> RawLines);

    private static bool IsPassLine(string line) => line.StartsWith("marking pass ", StringComparison.Ordinal);

    private static Outcome Collect(GarbageCollectionOptions options, Func<string, GarbageCollectionOptions, OrderedLog, object> run)
    {
        using var copy = SparseReferenceStore.FreshCopy();
        var store = copy.StorePath;
        GarbageCollectionTests.AgeChunkDir(store, 48);
        var log = new OrderedLog();
        var result = run(store, options, log);
        var json = JsonSerializer.Serialize(result, result.GetType(), new JsonSerializerOptions { WriteIndented = true }).Replace(store, "<STORE>");
        var lines = log.Lines.Where(l => !GarbageCollectionTests.ProgressLine.IsMatch(l) && !IsPassLine(l))
            .Select(l => l.Replace(store, "<STORE>")).ToArray();
        var files = Directory.EnumerateFiles(store, "*", SearchOption.AllDirectories)
            .Where(f => !f.EndsWith(".gc-status", StringComparison.Ordinal))
            .Select(f => Path.GetRelativePath(store, f)).Order(StringComparer.Ordinal).ToArray();
        return new Outcome(json, lines, files, log.Lines);
    }

    private static object RunGc(string store, GarbageCollectionOptions options, OrderedLog log)
    {
        var result = GarbageCollection.Run(store, options, log);
        // This run's own identity and timing.
        return new { Status = result.Status with { Upid = null }, result.IndexEntries, result.UniqueChunks, result.StrangePaths, result.MissingChunks, result.Reasons, result.DryRun };
    }

    private static object ListUnreferenced(string store, GarbageCollectionOptions options, OrderedLog log)
        => GarbageCollection.FindUnreferencedChunks(store, options, log)
            .Select(c => new { c.Name, c.Path, c.Size, c.IsBad, c.WouldRemoveNow }).ToList();

    public static TheoryData<int> PassCounts => new() { 2, 3, 17, 256 };

    [Theory]
    [MemberData(nameof(PassCounts))]
    public void RunInPassesEqualsOnePass(int passes)
    {
        var one = Collect(new GarbageCollectionOptions { Partitions = 1 }, RunGc);
        var many = Collect(new GarbageCollectionOptions { Partitions = passes }, RunGc);
        Assert.Equal(one.Result, many.Result);
        Assert.Equal(one.Lines, many.Lines);
        Assert.Equal(one.Files, many.Files);
        // The reference store's figures, so that both runs are known right and not merely equal.
        var expected = ReferenceStore.Expected["gc_after_48h"]!.AsObject();
        Assert.Contains($"Removed chunks: {(long)expected["status"]!["removed-chunks"]!}", many.Lines);
    }

    [Theory]
    [MemberData(nameof(PassCounts))]
    public void DryRunInPassesEqualsOnePass(int passes)
    {
        var one = Collect(new GarbageCollectionOptions { Partitions = 1, DryRun = true }, RunGc);
        var many = Collect(new GarbageCollectionOptions { Partitions = passes, DryRun = true }, RunGc);
        Assert.Equal(one.Result, many.Result);
        Assert.Equal(one.Files, many.Files);
        // Several passes sweep each slice after marking it, so only the order of the phase lines differs.
        Assert.Equal(one.Lines.Order(StringComparer.Ordinal), many.Lines.Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(PassCounts))]
    public void UnreferencedListInPassesEqualsOnePass(int passes)
    {
        var one = Collect(new GarbageCollectionOptions { Partitions = 1 }, ListUnreferenced);
        var many = Collect(new GarbageCollectionOptions { Partitions = passes }, ListUnreferenced);
        Assert.Equal(one.Result, many.Result);
        Assert.NotEqual("[]", one.Result);
    }

    [Fact]
    public void SmallMemoryLimitMarksInSeveralPassesWithTheSameResult()
    {
        var one = Collect(new GarbageCollectionOptions(), RunGc);
        var limited = Collect(new GarbageCollectionOptions { MemoryLimit = 2048 }, RunGc);
        Assert.Equal(one.Result, limited.Result);
        Assert.Equal(one.Lines, limited.Lines);
        Assert.Equal(one.Files, limited.Files);
        Assert.Contains(limited.RawLines, l => l.StartsWith("marking pass 3: ", StringComparison.Ordinal));
        Assert.DoesNotContain(one.Lines, IsPassLine);
    }

    [Fact]
    public void FirstPassIsSizedFromTheUniqueChunksNotTheEntries()
    {
        var one = Collect(new GarbageCollectionOptions(), RunGc);
        using var figures = JsonDocument.Parse(one.Result);
        var entries = figures.RootElement.GetProperty("IndexEntries").GetInt64();
        var unique = figures.RootElement.GetProperty("UniqueChunks").GetInt64();
        Assert.True(entries > 2 * unique, $"the store repeats too few digests for this test ({entries} entries, {unique} unique)");
        // Room for the unique chunks and half as many again, far from one digest per entry.
        var limit = (long)(unique * 1.5 * ChunkMarkSet.MaxBytesPerDigest / 0.9);
        var sized = Collect(new GarbageCollectionOptions { MemoryLimit = limit }, RunGc);
        Assert.DoesNotContain(sized.RawLines, IsPassLine);
        Assert.Equal(one.Result, sized.Result);
        Assert.Equal(one.Lines, sized.Lines);
    }
}
