using PbsDatastore.Core.Hierarchy;
using System.Text.Json.Nodes;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Maintenance;

/// <summary>
/// Space accounting and chunk references on the store PBS wrote, against the facts PBS read back from it: which
/// index files reference each chunk, the chunk file sizes, the `.bad` files, GC's and verify's results.
/// <see cref="S3.S3SpaceAccountingTests"/> runs the same tests on the store uploaded to an S3 bucket.
/// </summary>
public class SpaceAccountingReferenceStoreTests
{
    /// <summary>The store under test: the reference store as PBS wrote it.</summary>
    protected virtual Datastore Open() => Datastore.Open(ReferenceStore.PristinePath);

    private static JsonObject Store => ReferenceStore.Expected["store"]!.AsObject();

    /// <summary>Index files GC marks: all on disk except those in hidden directories.</summary>
    private static HashSet<string> MarkedIndexes { get; } = Store["index_files_on_disk"]!.AsArray()
        .Where(i => !(bool)i!["in_hidden_dir"]!).Select(i => (string)i!["path"]!).ToHashSet();

    /// <summary>Every referenced digest (present or missing) with the marked index files naming it.</summary>
    private static Dictionary<string, string[]> ReferencedBy { get; } = Store["chunks"]!.AsArray()
        .Concat(Store["missing_chunks"]!.AsArray())
        .ToDictionary(c => (string)c!["digest"]!,
            c => c!["referenced_by"]!.AsArray().Select(p => (string)p!).Where(MarkedIndexes.Contains).Order(StringComparer.Ordinal).ToArray());

    /// <summary>On-disk bytes GC keeps for a referenced digest: the chunk file, or for a missing one its `.N.bad` files.</summary>
    private static Dictionary<string, long> DiskBytes { get; } = Store["chunks"]!.AsArray()
        .ToDictionary(c => (string)c!["digest"]!, c => (long)c!["file_size"]!)
        .Concat(Store["missing_chunks"]!.AsArray().Select(m => (string)m!["digest"]!).Select(d => KeyValuePair.Create(d,
            Store["bad_files"]!.AsArray().Where(b => ((string)b!["name"]!).StartsWith(d + ".", StringComparison.Ordinal)).Sum(b => (long)b!["file_size"]!))))
        .ToDictionary();

    /// <summary>Logical size of each snapshot index file (the only ones a member can contain).</summary>
    private static Dictionary<string, long> LogicalBytes { get; } = Store["snapshots"]!.AsArray()
        .SelectMany(s => s!["files"]!.AsArray().Where(f => f!["index"] is not null)
            .Select(f => KeyValuePair.Create($"{s["path"]}/{f!["name"]}", (long)f["index"]!["computed_size"]!)))
        .ToDictionary();

    /// <summary>Every snapshot, group and namespace (the root namespace's path is "": the whole store).</summary>
    private static List<string> AllItems { get; } = Store["snapshots"]!.AsArray()
        .Concat(Store["groups"]!.AsArray()).Concat(Store["namespaces"]!.AsArray())
        .Select(i => (string)i!["path"]!).ToList();

    public static TheoryData<string> Items() => new(AllItems);

    private static void AssertBruteForce(IReadOnlyList<string> items, SpaceUsage actual)
    {
        bool InSet(string index) => items.Any(i => i.Length == 0 || index.StartsWith(i + "/", StringComparison.Ordinal));
        var setDigests = ReferencedBy.Where(r => r.Value.Any(InSet)).Select(r => r.Key).ToList();
        var exclusive = setDigests.Where(d => ReferencedBy[d].All(InSet)).ToList();
        var setFiles = MarkedIndexes.Where(InSet).ToList();
        Assert.Equal(setFiles.Count, actual.IndexFiles);
        if (!items.Contains(""))
            Assert.Equal(setFiles.Sum(f => LogicalBytes[f]), actual.LogicalBytes);
        Assert.Equal(setDigests.Count, actual.ReferencedChunks);
        Assert.Equal(setDigests.Sum(d => DiskBytes[d]), actual.ReferencedBytes);
        Assert.Equal(exclusive.Count, actual.ExclusiveChunks);
        Assert.Equal(exclusive.Sum(d => DiskBytes[d]), actual.ExclusiveBytes);
        Assert.Equal(setDigests.Count - exclusive.Count, actual.SharedChunks);
        Assert.Equal(setDigests.Count(d => !Store["chunks"]!.AsArray().Any(c => (string)c!["digest"]! == d)), actual.MissingChunks);
        Assert.Equal(MarkedIndexes.Count, actual.StoreIndexFiles);
    }

    [Theory]
    [MemberData(nameof(Items))]
    public void EachSnapshotGroupAndNamespaceMatchesBruteForce(string item)
    {
        using var store = Open();
        AssertBruteForce([item], SpaceAccounting.Measure(store, [new(item, item)], NullTaskState.Instance));
    }

    [Fact]
    public void SetsOfItemsMatchBruteForce()
    {
        var items = AllItems.Where(i => i.Length > 0).ToList();
        var random = new Random(42);
        using var store = Open();
        for (var round = 0; round < 15; round++)
        {
            var set = items.OrderBy(_ => random.Next()).Take(random.Next(2, 5)).ToList();
            AssertBruteForce(set, SpaceAccounting.Measure(store, set.Select(i => new AccountingMember(i, i)).ToList(), NullTaskState.Instance));
        }
    }

    [Fact]
    public void WholeStoreMatchesWhatGcKeeps()
    {
        // GC with every atime old keeps exactly the referenced chunks plus the .bad file of a missing chunk.
        var gc = ReferenceStore.Expected["gc_after_48h"]!["status"]!;
        using var store = Open();
        var usage = SpaceAccounting.Measure(store, [new("store", "")], NullTaskState.Instance);
        Assert.Equal((int)gc["index-file-count"]!, usage.IndexFiles);
        Assert.Equal((long)gc["index-data-bytes"]!, usage.LogicalBytes);
        Assert.Equal((long)gc["disk-bytes"]!, usage.ReferencedBytes);
        Assert.Equal((long)gc["disk-chunks"]!, usage.ReferencedChunks - usage.MissingChunks);
        Assert.Equal(usage.ReferencedBytes, usage.ExclusiveBytes);
        Assert.Equal(Store["missing_chunks"]!.AsArray().Count, usage.MissingChunks);
        Assert.Equal(ReferencedBy.Count(r => r.Value.Length > 0), usage.ReferencedChunks);
    }

    [Fact]
    public void MissingChunksMapToTheSnapshotsVerifyFails()
    {
        using var store = Open();
        var missing = ChunkReferences.FindMissing(store, NullTaskState.Instance);
        var expected = Store["missing_chunks"]!.AsArray();
        Assert.Equal(expected.Select(m => (string)m!["digest"]!).Order(StringComparer.Ordinal), missing.Select(m => m.Digest.ToString()));
        foreach (var m in missing)
        {
            Assert.False(m.Present);
            Assert.Equal(ReferencedBy[m.Digest.ToString()], m.Uses.Select(u => u.IndexPath));
            Assert.Equal(expected.Single(e => (string)e!["digest"]! == m.Digest.ToString())!["index_entries_referencing"]!.GetValue<int>(),
                m.Uses.Sum(u => u.Entries));
        }
        // Verify fails exactly these snapshots for chunk errors (the other failure is a missing manifest).
        var failedForChunks = ReferenceStore.Expected["verify"]!["with_key"]!["per_snapshot"]!.AsArray()
            .Where(s => s!["errors"]!.AsArray().Any(e => ((string)e!).Contains("chunks could not be verified")))
            .Select(s => (string)s!["snapshot"]!).Order(StringComparer.Ordinal);
        Assert.Equal(failedForChunks, missing.SelectMany(m => m.Snapshots).Distinct().Order(StringComparer.Ordinal));
        Assert.Equal(ReferenceStore.Expected["verify"]!["with_key"]!["corrupt_chunks"]!.AsArray().Select(d => (string)d!),
            missing.Select(m => m.Digest.ToString()));
    }

    /// <summary>
    /// Missing chunks looked up in 2, 3 or 17 slices of the digest space, each holding only its own referenced
    /// digests (on S3, listing only its slice of the bucket): the chunks, references and order of one pass, byte for
    /// byte, and those the expected JSON names.
    /// </summary>
    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(17)]
    public void MissingChunksFoundInSlicesAreThoseOfOnePass(int passes)
    {
        using var store = Open();
        var one = FindMissingInPasses(store, 1, NullTaskState.Instance);
        Assert.Equal(Store["missing_chunks"]!.AsArray().Select(m => (string)m!["digest"]!).Order(StringComparer.Ordinal),
            one.Select(m => m.Digest.ToString()));
        Assert.Equal(ChunkReferencesTests.Text(ChunkReferences.FindMissing(store, NullTaskState.Instance)), ChunkReferencesTests.Text(one));
        var log = new OrderedLog();
        Assert.Equal(ChunkReferencesTests.Text(one), ChunkReferencesTests.Text(FindMissingInPasses(store, passes, log)));
        Assert.Contains(log.Lines, l => l.StartsWith($"looking up pass {passes}: ", StringComparison.Ordinal));
    }

    /// <summary>Missing chunks in exactly <paramref name="passes"/> slices, on the chunk store the public lookup reads.</summary>
    protected static IReadOnlyList<ChunkReference> FindMissingInPasses(Datastore store, int passes, ITaskState state)
        => ChunkReferences.FindMissing(Core.S3.S3ChunkListing.Over(store.Backend, state), state, long.MaxValue, passes);

    [Fact]
    public void BadChunksMapToTheIndexesReferencingThem()
    {
        using var store = Open();
        var bad = ChunkReferences.FindBad(store, NullTaskState.Instance);
        var badFiles = Store["bad_files"]!.AsArray().Select(b => (string)b!["name"]!).ToList();
        Assert.Equal(badFiles.Select(n => n[..64]).Distinct().Order(StringComparer.Ordinal), bad.Select(b => b.Digest.ToString()));
        var present = Store["chunks"]!.AsArray().Select(c => (string)c!["digest"]!).ToHashSet();
        foreach (var b in bad)
        {
            var hex = b.Digest.ToString();
            Assert.Equal(badFiles.Where(n => n.StartsWith(hex, StringComparison.Ordinal)).Order(StringComparer.Ordinal), b.BadFiles);
            Assert.Equal(present.Contains(hex), b.Present);
            Assert.Equal(ReferencedBy.GetValueOrDefault(hex, []), b.Uses.Select(u => u.IndexPath));
        }
    }

    [Fact]
    public void EveryChunkHasItsReferencesAndByteRanges()
    {
        var digests = ReferencedBy.Keys.Select(d => ChunkDigest.Parse(d)).ToList();
        using var store = Open();
        var found = ChunkReferences.Find(store, digests, NullTaskState.Instance);
        Assert.Equal(digests, found.Select(f => f.Digest));

        // Ranges from the index entries PBS read back: [previous end, end), adjacent ones merged.
        var ranges = new Dictionary<(string Digest, string Index), List<(long, long)>>();
        foreach (var s in Store["snapshots"]!.AsArray())
            foreach (var f in s!["files"]!.AsArray().Where(f => f!["index"] is not null))
            {
                long start = 0;
                foreach (var e in f!["index"]!["entries"]!.AsArray())
                {
                    var key = ((string)e!["digest"]!, $"{s["path"]}/{f["name"]}");
                    var end = (long)e["end"]!;
                    var list = ranges.TryGetValue(key, out var l) ? l : ranges[key] = new();
                    if (list.Count > 0 && list[^1].Item2 == start) list[^1] = (list[^1].Item1, end);
                    else list.Add((start, end));
                    start = end;
                }
            }
        foreach (var f in found)
        {
            var hex = f.Digest.ToString();
            Assert.Equal(ReferencedBy[hex], f.Uses.Select(u => u.IndexPath));
            foreach (var use in f.Uses.Where(u => u.Snapshot != null))
            {
                Assert.Equal(ranges[(hex, use.IndexPath)], use.Ranges.Select(r => (r.Start, r.End)));
                Assert.Equal(use.IndexPath, $"{use.Snapshot}/{use.Archive}");
            }
        }
        Assert.Contains(found, f => f.Uses.Any(u => u.Snapshot == null)); // the strange-path index
    }
}
