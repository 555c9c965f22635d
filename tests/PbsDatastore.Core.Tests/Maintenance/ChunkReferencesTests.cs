using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Maintenance;

/// <summary>
/// Missing chunks looked up in slices of the digest space, on a random store whose unique chunks are far more than
/// a small memory limit holds: the chunks, references and order of one pass and of a brute force over the indexes.
/// </summary>
public sealed class ChunkReferencesTests
{
    private const long ChunkSize = 4096;
    private const string Broken = "vm/999/2024-01-01T00:00:00Z/drive-scsi0.img.fidx";

    /// <summary>A chunk reference as text: everything it says, in order, for byte-for-byte comparisons.</summary>
    internal static string Text(IEnumerable<ChunkReference> references)
        => string.Join("\n", references.Select(r => $"{r.Digest} present={r.Present} bad=[{string.Join(",", r.BadFiles)}] "
            + string.Join(" ", r.Uses.Select(u => $"{u.IndexPath}|{u.Snapshot}|{u.Archive}|{u.Entries}|{string.Join(",", u.Ranges)}"))));

    /// <summary>
    /// Snapshots of a few disks (successive versions repeat most positions), some chunks without a file, some with
    /// `.bad` files or only an upper-case name (which GC does not find), and one index that cannot be parsed.
    /// </summary>
    private sealed class RandomStore : IDisposable
    {
        public readonly SyntheticStore Store = new();
        /// <summary>Index path (relative) → digest per entry.</summary>
        public readonly SortedDictionary<string, ChunkDigest[]> Indexes = new(StringComparer.Ordinal);
        public readonly HashSet<ChunkDigest> Present = new();
        public readonly Dictionary<ChunkDigest, List<string>> BadFiles = new();

        public RandomStore(int seed)
        {
            var random = new Random(seed);
            var pool = Enumerable.Range(0, 3000).Select(_ => SyntheticStore.RandomDigest(random)).ToArray();
            foreach (var digest in pool)
            {
                var kind = random.Next(20);
                var path = Store.ChunkPath(digest);
                if (kind == 0)
                    Store.WriteFile(Path.Combine(Path.GetDirectoryName(path)!, digest.ToString().ToUpperInvariant()), 1);
                else if (kind == 1)
                    AddBad(digest, path, random.Next(1, 3));
                else if (kind > 2)
                {
                    Store.WriteFile(path, 0);
                    Present.Add(digest);
                    if (kind == 3) AddBad(digest, path, 1);
                }
            }
            for (var disk = 0; disk < 6; disk++)
            {
                var digests = Enumerable.Range(0, 300).Select(_ => pool[random.Next(pool.Length)]).ToArray();
                for (var day = 1; day <= 4; day++)
                {
                    for (var i = 0; i < 30; i++) digests[random.Next(digests.Length)] = pool[random.Next(pool.Length)];
                    var relative = $"vm/{100 + disk}/2024-03-{day:00}T10:00:00Z/drive-scsi0.img.fidx";
                    Store.WriteFixed(relative, digests, ChunkSize);
                    Indexes[relative] = (ChunkDigest[])digests.Clone();
                }
            }
            Store.WriteFile(Path.Combine(Store.Path, Broken), 5000);
        }

        private void AddBad(ChunkDigest digest, string path, int count)
        {
            var names = BadFiles[digest] = [];
            for (var n = 0; n < count; n++)
            {
                Store.WriteFile($"{path}.{n}.bad", 1);
                names.Add($"{digest}.{n}.bad");
            }
        }

        /// <summary>What the lookup of missing chunks must find, by brute force over the indexes.</summary>
        public string ExpectedMissing()
        {
            var missing = Indexes.Values.SelectMany(d => d).Where(d => !Present.Contains(d)).Distinct().Order().ToList();
            return Text(missing.Select(digest => new ChunkReference
            {
                Digest = digest,
                Present = false,
                BadFiles = BadFiles.GetValueOrDefault(digest, []),
                Uses = Indexes.Where(i => i.Value.Contains(digest)).Select(i =>
                {
                    var ranges = new List<ByteRange>();
                    for (var n = 0; n < i.Value.Length; n++)
                    {
                        if (i.Value[n] != digest) continue;
                        if (ranges.Count > 0 && ranges[^1].End == n * ChunkSize) ranges[^1] = ranges[^1] with { End = (n + 1) * ChunkSize };
                        else ranges.Add(new ByteRange(n * ChunkSize, (n + 1) * ChunkSize));
                    }
                    var slash = i.Key.LastIndexOf('/');
                    return new ChunkUse
                    {
                        Digest = digest, IndexPath = i.Key, Snapshot = i.Key[..slash], Archive = i.Key[(slash + 1)..],
                        Ranges = ranges, Entries = i.Value.Count(d => d == digest),
                    };
                }).ToList(),
            }));
        }

        public void Dispose() => Store.Dispose();
    }

    private static IReadOnlyList<ChunkReference> FindMissing(RandomStore store, ITaskState state, long memoryLimit, int? passes = null)
    {
        using var backend = IndexPass.OpenStore(store.Store.Path);
        return ChunkReferences.FindMissing(backend, state, memoryLimit, passes);
    }

    [Theory]
    [InlineData(2, null)]
    [InlineData(3, null)]
    [InlineData(17, null)]
    [InlineData(null, 16L << 10)]
    public void MissingChunksFoundInSlicesAreThoseOfOnePassAndOfBruteForce(int? passes, long? memoryLimit)
    {
        using var store = new RandomStore(7);
        var one = FindMissing(store, NullTaskState.Instance, long.MaxValue, passes: 1);
        Assert.Equal(store.ExpectedMissing(), Text(one));
        Assert.True(one.Count > 100, $"only {one.Count} missing chunks");
        var log = new OrderedLog();
        var sliced = FindMissing(store, log, memoryLimit ?? long.MaxValue, passes);
        Assert.Equal(Text(one), Text(sliced));
        Assert.Contains(log.Lines, l => l.StartsWith("looking up pass 2: ", StringComparison.Ordinal));
        if (passes is { } n) Assert.Contains(log.Lines, l => l.StartsWith($"looking up pass {n}: ", StringComparison.Ordinal));
        // The unparsable index is reported once, however many times the slices read the indexes.
        Assert.Equal(Broken, Assert.Single(log.Warnings, w => w.Contains("skipping unreadable index")).Split('"')[1]);
    }

    [Fact]
    public void AStoreThatFitsTheLimitIsReadInOnePass()
    {
        using var store = new RandomStore(8);
        var log = new OrderedLog();
        var found = FindMissing(store, log, 1L << 20);
        Assert.Equal(store.ExpectedMissing(), Text(found));
        Assert.DoesNotContain(log.Lines, l => l.StartsWith("looking up pass ", StringComparison.Ordinal));
    }
}
