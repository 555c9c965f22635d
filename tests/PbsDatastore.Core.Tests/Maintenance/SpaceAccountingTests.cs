using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Maintenance;

public class SpaceAccountingTests
{
    /// <summary>A random store: namespaces, groups, snapshots with fixed and dynamic indexes over a shared chunk pool.</summary>
    private sealed class RandomStore : IDisposable
    {
        public readonly SyntheticStore Store = new();
        /// <summary>Index files GC marks, with their digests and logical size.</summary>
        public readonly Dictionary<string, (ChunkDigest[] Digests, long Bytes)> Indexes = new();
        public readonly Dictionary<ChunkDigest, long> DiskSize = new();
        public readonly HashSet<ChunkDigest> Present = new();
        public readonly List<string> Snapshots = new(), Groups = new(), Namespaces = new();

        public RandomStore(int seed)
        {
            var random = new Random(seed);
            var pool = Enumerable.Range(0, 400).Select(_ => SyntheticStore.RandomDigest(random)).ToArray();
            foreach (var digest in pool)
            {
                var kind = random.Next(10);
                if (kind < 8)
                {
                    var size = random.Next(13, 5000);
                    Store.WriteFile(Store.ChunkPath(digest), size);
                    DiskSize[digest] = size;
                    Present.Add(digest);
                    if (kind == 7) Store.WriteFile(Store.ChunkPath(digest) + ".0.bad", 999); // stale: GC never touches it
                }
                else
                {
                    // Missing; GC keeps its .N.bad files alive instead (none, one or two of them).
                    long size = 0;
                    for (var n = 0; n < random.Next(3); n++)
                    {
                        var badSize = random.Next(13, 3000);
                        Store.WriteFile($"{Store.ChunkPath(digest)}.{n}.bad", badSize);
                        size += badSize;
                    }
                    DiskSize[digest] = size;
                }
            }

            ChunkDigest[] Pick(int count) => Enumerable.Range(0, count).Select(_ => pool[random.Next(pool.Length)]).ToArray();
            // Like successive backups of one disk: often the previous version with a few positions changed.
            var previous = new Dictionary<string, ChunkDigest[]>();
            void Index(string path, bool counted)
            {
                var archive = System.Text.RegularExpressions.Regex.Replace(path, "/[^/]*Z/", "/");
                var digests = previous.TryGetValue(archive, out var last) && random.Next(3) > 0
                    ? last.Select(d => random.Next(5) == 0 ? pool[random.Next(pool.Length)] : d).ToArray()
                    : Pick(random.Next(1, 40));
                previous[archive] = digests;
                long bytes;
                if (random.Next(2) == 0)
                {
                    var tail = random.Next(0, 100);
                    Store.WriteFixed(path, digests, 128, tail);
                    bytes = digests.Length * 128L - tail;
                }
                else
                {
                    var lengths = digests.Select(_ => (long)random.Next(1, 1000)).ToArray();
                    Store.WriteDynamic(path, digests, lengths);
                    bytes = lengths.Sum();
                }
                if (counted) Indexes[path] = (digests, bytes);
            }

            foreach (var ns in new[] { "", "ns/a", "ns/a/ns/b", "ns/c" })
            {
                Namespaces.Add(ns);
                foreach (var group in new[] { "vm/100", "ct/200", "host/x" }.Take(random.Next(1, 4)))
                {
                    var groupPath = ns.Length == 0 ? group : $"{ns}/{group}";
                    Groups.Add(groupPath);
                    for (var s = 0; s < random.Next(1, 4); s++)
                    {
                        var snapshot = $"{groupPath}/2024-03-0{s + 1}T10:00:00Z";
                        Snapshots.Add(snapshot);
                        Index($"{snapshot}/drive-scsi0.img.fidx", true);
                        if (random.Next(2) == 0) Index($"{snapshot}/root.pxar.didx", true);
                        if (random.Next(4) == 0) Index($"{snapshot}/disk.img.tmp_fidx", false);
                    }
                }
            }
            Index("stale-restore/drive-scsi1.img.fidx", true);
            Index(".hidden-tmp/ignored.img.fidx", false);
            Index($"{Snapshots[0]}/.hidden.fidx", false);
        }

        /// <summary>The figures by brute force: digest sets per index file, compared directly.</summary>
        public SpaceUsage Expected(IReadOnlyList<AccountingMember> members)
        {
            string? MemberOf(string indexPath) => members
                .Where(m => m.RelativePath.Length == 0 || indexPath.StartsWith(m.RelativePath + "/", StringComparison.Ordinal))
                .OrderByDescending(m => m.RelativePath.Length).Select(m => m.RelativePath).FirstOrDefault();
            var owners = new Dictionary<ChunkDigest, HashSet<string?>>();
            foreach (var (path, (digests, _)) in Indexes)
                foreach (var d in digests)
                    (owners.TryGetValue(d, out var set) ? set : owners[d] = new()).Add(MemberOf(path));
            var inSet = owners.Where(o => o.Value.Any(m => m != null)).Select(o => o.Key).ToList();
            var exclusive = inSet.Where(d => !owners[d].Contains(null)).ToList();
            var setFiles = Indexes.Where(i => MemberOf(i.Key) != null).ToList();
            return new SpaceUsage
            {
                StorePath = Store.Path,
                Members = members.Select(m =>
                {
                    var mine = owners.Where(o => o.Value.Count == 1 && o.Value.Single() == m.RelativePath).Select(o => o.Key).ToList();
                    var files = Indexes.Where(i => MemberOf(i.Key) == m.RelativePath).ToList();
                    return new MemberSpaceUsage
                    {
                        Name = m.Name,
                        RelativePath = m.RelativePath,
                        IndexFiles = files.Count,
                        LogicalBytes = files.Sum(f => f.Value.Bytes),
                        ExclusiveChunks = mine.Count,
                        ExclusiveBytes = mine.Sum(d => DiskSize[d]),
                    };
                }).ToList(),
                IndexFiles = setFiles.Count,
                LogicalBytes = setFiles.Sum(f => f.Value.Bytes),
                ReferencedChunks = inSet.Count,
                ReferencedBytes = inSet.Sum(d => DiskSize[d]),
                ExclusiveChunks = exclusive.Count,
                ExclusiveBytes = exclusive.Sum(d => DiskSize[d]),
                SharedChunks = inSet.Count - exclusive.Count,
                SharedBytes = inSet.Sum(d => DiskSize[d]) - exclusive.Sum(d => DiskSize[d]),
                MissingChunks = inSet.Count(d => !Present.Contains(d)),
                StoreIndexFiles = Indexes.Count,
            };
        }

        public void Dispose() => Store.Dispose();
    }

    private static void AssertSame(SpaceUsage expected, SpaceUsage actual)
    {
        Assert.Equal(expected.Members.Select(Row), actual.Members.Select(Row));
        Assert.Equal(Totals(expected), Totals(actual));

        static object Row(MemberSpaceUsage m) => (m.Name, m.IndexFiles, m.LogicalBytes, m.ExclusiveChunks, m.ExclusiveBytes);
        static object Totals(SpaceUsage u) => new
        {
            u.IndexFiles, u.LogicalBytes, u.ReferencedChunks, u.ReferencedBytes, u.ExclusiveChunks, u.ExclusiveBytes,
            u.SharedChunks, u.SharedBytes, u.MissingChunks, u.StoreIndexFiles,
        };
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void MatchesBruteForceOnRandomSets(int seed)
    {
        using var store = new RandomStore(seed);
        var random = new Random(seed * 31);
        var candidates = store.Snapshots.Concat(store.Groups).Concat(store.Namespaces.Where(n => n.Length > 0)).ToList();
        var sets = Enumerable.Range(0, 12)
            .Select(_ => candidates.OrderBy(_ => random.Next()).Take(random.Next(1, 5)).ToList())
            .Concat(candidates.Append("").Select(p => new List<string> { p })); // every item alone, and the whole store
        var seen = new List<SpaceUsage>();
        foreach (var set in sets)
        {
            var members = set.Select(p => new AccountingMember(p, p)).ToList();
            var expected = store.Expected(members);
            AssertSame(expected, SpaceAccounting.Measure(store.Store.Path, members, NullTaskState.Instance));
            seen.Add(expected);
        }
        // The comparison covered every kind of chunk: exclusive, shared, missing, members owning chunks alone.
        Assert.Contains(seen, u => u.ExclusiveBytes > 0 && u.SharedBytes > 0 && u.MissingChunks > 0);
        Assert.Contains(seen, u => u.Members.Count > 1 && u.Members.Sum(m => m.ExclusiveBytes) < u.ExclusiveBytes);
    }

    [Theory]
    [InlineData(2, null)]
    [InlineData(7, null)]
    [InlineData(64, null)]
    [InlineData(null, 1024L)]
    public void MeasuredInPassesEqualsOnePassAndBruteForce(int? passes, long? memoryLimit)
    {
        using var store = new RandomStore(4);
        var random = new Random(17);
        var candidates = store.Snapshots.Concat(store.Groups).Concat(store.Namespaces.Where(n => n.Length > 0)).ToList();
        var sets = Enumerable.Range(0, 6)
            .Select(_ => candidates.OrderBy(_ => random.Next()).Take(random.Next(1, 5)).ToList())
            .Append([""]);
        foreach (var set in sets)
        {
            var members = set.Select(p => new AccountingMember(p, p)).ToList();
            var one = SpaceAccounting.Measure(store.Store.Path, members, NullTaskState.Instance, long.MaxValue, passes: 1);
            var log = new OrderedLog();
            var many = memoryLimit is { } limit
                ? SpaceAccounting.Measure(store.Store.Path, members, log, limit)
                : SpaceAccounting.Measure(store.Store.Path, members, log, long.MaxValue, passes);
            Assert.Equal(System.Text.Json.JsonSerializer.Serialize(one), System.Text.Json.JsonSerializer.Serialize(many));
            AssertSame(store.Expected(members), many);
            Assert.Contains(log.Lines, l => l.StartsWith("measuring pass 2: ", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void FirstPassIsSizedFromTheUniqueChunksNotTheEntries()
    {
        using var store = new RandomStore(4);
        var entries = store.Indexes.Values.Sum(i => (long)i.Digests.Length);
        var unique = store.Indexes.Values.SelectMany(i => i.Digests).Distinct().LongCount();
        Assert.True(entries > 2 * unique, $"the store repeats too few digests for this test ({entries} entries, {unique} unique)");
        // Room for the unique chunks and half as many again, far from one digest per entry.
        var limit = (long)(unique * 1.5 * ChunkDigestTable.MaxBytesPerDigest / 0.9);
        var members = new[] { new AccountingMember("store", "") };
        var log = new OrderedLog();
        var usage = SpaceAccounting.Measure(store.Store.Path, members, log, limit);
        Assert.DoesNotContain(log.Lines, l => l.StartsWith("measuring pass ", StringComparison.Ordinal));
        AssertSame(store.Expected(members), usage);
    }

    [Fact]
    public void SetIsMeasuredAsAWholeNotAsTheSumOfItsMembers()
    {
        using var store = new SyntheticStore();
        var random = new Random(5);
        var shared = SyntheticStore.RandomDigest(random);
        var own = SyntheticStore.RandomDigest(random);
        store.WriteFile(store.ChunkPath(shared), 1000);
        store.WriteFile(store.ChunkPath(own), 300);
        store.WriteFixed("vm/1/2024-01-01T00:00:00Z/a.img.fidx", [shared, own], 64);
        store.WriteFixed("vm/1/2024-01-02T00:00:00Z/a.img.fidx", [shared], 64);
        store.WriteFixed("vm/2/2024-01-02T00:00:00Z/a.img.fidx", [own], 64);

        var first = SpaceAccounting.Measure(store.Path, [new("s1", "vm/1/2024-01-01T00:00:00Z")], NullTaskState.Instance);
        var second = SpaceAccounting.Measure(store.Path, [new("s2", "vm/1/2024-01-02T00:00:00Z")], NullTaskState.Instance);
        var both = SpaceAccounting.Measure(store.Path,
            [new("s1", "vm/1/2024-01-01T00:00:00Z"), new("s2", "vm/1/2024-01-02T00:00:00Z")], NullTaskState.Instance);
        Assert.Equal(0, first.ExclusiveBytes);
        Assert.Equal(0, second.ExclusiveBytes);
        Assert.Equal(1000, both.ExclusiveBytes);
        Assert.Equal(300, both.SharedBytes);
        Assert.All(both.Members, m => Assert.Equal(0, m.ExclusiveBytes));
    }

    [Fact]
    public void AbortStopsThePass()
    {
        using var store = new RandomStore(9);
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        var e = Assert.Throws<PbsException>(() =>
            SpaceAccounting.Measure(store.Store.Path, [new("all", "")], new RecordingTaskState(cancel.Token)));
        Assert.Equal("OperationStopped", e.ErrorId);
    }

    /// <summary>Cancels when <paramref name="activity"/> first reports progress; counts reports after the call returned.</summary>
    private sealed class CancelOnActivity(string activity) : ITaskState, IDisposable
    {
        private readonly CancellationTokenSource _cancel = new();
        private int _late;
        public volatile bool Returned;
        public int LateReports => Volatile.Read(ref _late);
        public CancellationToken Cancellation => _cancel.Token;
        public void Log(string message) { }
        public void Warn(string message) { }

        public void Progress(int activityId, string name, string status, int percent)
        {
            if (Returned) Interlocked.Increment(ref _late);
            if (name == activity) _cancel.Cancel();
        }

        public void Complete(int activityId, string name)
        {
            if (Returned) Interlocked.Increment(ref _late);
        }

        public void Dispose() => _cancel.Dispose();
    }

    // The set's chunk files are stat'ed while the other indexes are read: Ctrl+C in either stops both, and
    // nothing of the call runs on after it returned.
    [Theory]
    [InlineData("Checking chunk files")]
    [InlineData("Reading the other indexes")]
    public void AbortWhileStatingAndReadingTheOtherIndexesStopsBoth(string activity)
    {
        using var store = new RandomStore(6);
        using var state = new CancelOnActivity(activity);
        var e = Assert.Throws<PbsException>(() => SpaceAccounting.Measure(store.Store.Path, [new("s", store.Groups[0])], state));
        state.Returned = true;
        Assert.Equal("OperationStopped", e.ErrorId);
        Thread.Sleep(100);
        Assert.Equal(0, state.LateReports);
    }

    [Fact]
    public void ChunkStatFailureWhileReadingTheOtherIndexesIsReported()
    {
        using var store = new RandomStore(7);
        var snapshot = store.Snapshots[0];
        var digest = store.Indexes.First(i => i.Key.StartsWith(snapshot + "/", StringComparison.Ordinal)).Value.Digests.First(store.Present.Contains);
        // A prefix directory that is a symlink to itself: the chunk's stat fails with ELOOP, not "missing".
        var prefixDir = Path.GetDirectoryName(store.Store.ChunkPath(digest))!;
        Directory.Delete(prefixDir, true);
        File.CreateSymbolicLink(prefixDir, Path.GetFileName(prefixDir));
        var e = Assert.Throws<PbsException>(() => SpaceAccounting.Measure(store.Store.Path, [new("s", snapshot)], NullTaskState.Instance));
        Assert.Equal("ChunkStatFailed", e.ErrorId);
        Assert.Equal(Path.Combine(prefixDir, digest.ToString()), e.Target);
    }

    [Fact]
    public void UnreadableIndexIsAnError()
    {
        using var store = new RandomStore(4);
        File.WriteAllBytes(Path.Combine(store.Store.Path, store.Snapshots[1], "broken.img.fidx"), new byte[100]);
        var e = Assert.Throws<PbsException>(() =>
            SpaceAccounting.Measure(store.Store.Path, [new("s", store.Snapshots[0])], NullTaskState.Instance));
        Assert.Equal("IndexTooShort", e.ErrorId);
    }
}
