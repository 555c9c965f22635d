using System.Security.Cryptography;
using System.Text.Json.Nodes;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Maintenance;

/// <summary>
/// Verify on fresh (sparse) copies of the reference store against the expected JSON's <c>verify</c> section (PBS's verify
/// run on the same store, with and without the key), plus what PBS writes: verify_state and <c>.N.bad</c> renames.
/// </summary>
public class VerifyJobTests
{
    // Lock files go to the test run's private run root (TestEnvironment): changing that process-wide variable here
    // would move other test classes' locks while they run.

    private static JsonObject Expected(bool withKey) => ReferenceStore.Expected["verify"]![withKey ? "with_key" : "without_key"]!.AsObject();

    private static CryptConfig Key() => KeyConfig.Load(ReferenceStore.KeyFile).Decrypt();

    private static List<BackupGroup> AllGroups(Datastore store) =>
        store.ListNamespaces().SelectMany(ns => store.ListGroups(ns)).ToList();

    /// <summary>The snapshot as the expected JSON names it: its path relative to the store.</summary>
    private static string Rel(BackupSnapshot s) => s.RelativePath;

    /// <summary>
    /// A copy of the reference store opened through a datastore.cfg section with the given <c>chunk-order</c> tuning
    /// (null: no tuning line).
    /// </summary>
    private static Datastore OpenWithTuning(TempDir copy, string? tuning)
    {
        var cfg = $"datastore: store1\n\tpath {copy.StorePath}\n" + (tuning is null ? "" : $"\ttuning {tuning}\n");
        return Datastore.Open(copy.StorePath, "store1", DatastoreConfig.Parse(cfg));
    }

    /// <summary>Reader / verify thread counts and chunk orders: every combination without the key, two with it.</summary>
    public static TheoryData<bool, int, int, ChunkOrder> ThreadsAndOrders()
    {
        var data = new TheoryData<bool, int, int, ChunkOrder>();
        foreach (var readers in new[] { 1, 3 })
            foreach (var workers in new[] { 1, 4 })
                foreach (var order in new[] { ChunkOrder.Inode, ChunkOrder.None })
                    data.Add(false, readers, workers, order);
        data.Add(true, 1, 4, ChunkOrder.Inode);
        data.Add(true, 3, 1, ChunkOrder.None);
        return data;
    }

    [Theory]
    [MemberData(nameof(ThreadsAndOrders))]
    public void DatastoreVerifyMatchesPbs(bool withKey, int readers, int workers, ChunkOrder order)
    {
        using var copy = SparseStoreCopy.Create();
        var store = OpenWithTuning(copy, $"chunk-order={order.ToString().ToLowerInvariant()}");
        var expected = Expected(withKey);
        var task = new RecordingTaskState();
        var job = new VerifyJob(store, new VerifyOptions { Key = withKey ? Key() : null, ReadThreads = readers, VerifyThreads = workers });
        Assert.Equal(new VerifyTuning(order, readers, workers), job.Chunks.Tuning);

        var results = job.VerifyGroups(AllGroups(store), task);

        var perSnapshot = expected["per_snapshot"]!.AsArray();
        Assert.Equal(perSnapshot.Select(p => (string)p!["snapshot"]!), results.Select(r => Rel(r.BackupSnapshot)));
        foreach (var (e, r) in perSnapshot.Zip(results))
        {
            var at = Rel(r.BackupSnapshot);
            Assert.True((bool)e!["ok"]! == r.Ok, at);
            Assert.Equal(e["errors"]!.AsArray().Select(x => (string)x!), OracleErrors(r, copy.StorePath));
            if (e.AsObject().ContainsKey("signature_check"))
                Assert.True(((string?)e["signature_check"] == "ok") == (r.SignatureOk == true), at);
        }

        var verified = results.Where(r => r.State != SnapshotVerifyState.Skipped).ToList();
        var archives = verified.SelectMany(r => r.Archives).ToList();
        Assert.Equal((int)expected["snapshots"]!, results.Count);
        Assert.Equal((int)expected["snapshots_ok"]!, results.Count(r => r.Ok));
        Assert.Equal((int)expected["snapshots_failed"]!, results.Count(r => !r.Ok));
        Assert.Equal(expected["failed_snapshots"]!.AsArray().Select(x => (string)x!), results.Where(r => !r.Ok).Select(r => Rel(r.BackupSnapshot)).Order(StringComparer.Ordinal));
        Assert.Equal((int)expected["groups"]!, results.Select(r => r.BackupSnapshot.Group).Distinct().Count());
        Assert.Equal((int)expected["files_checked"]!, archives.Count);
        Assert.Equal((int)expected["blobs_checked"]!, archives.Count(a => a.IsBlob));
        Assert.Equal((int)expected["indexes_checked"]!, archives.Count(a => !a.IsBlob));
        Assert.Equal((long)expected["chunks_loaded"]!, job.Chunks.ChunksLoaded);
        Assert.Equal((int)expected["chunks_verified_ok"]!, job.Chunks.VerifiedChunks.Count);
        Assert.Equal((long)expected["chunks_decrypted"]!, job.Chunks.ChunksDecrypted);
        Assert.Equal((int)expected["chunk_errors"]!, archives.Sum(a => a.ChunkErrors.Count));
        Assert.Equal(expected["corrupt_chunks"]!.AsArray().Select(x => (string)x!), job.Chunks.CorruptChunks.Select(d => d.ToString()).Order(StringComparer.Ordinal));
        Assert.Equal((long)expected["read_bytes"]!, job.Chunks.ReadBytes);
        Assert.Equal((long)expected["decoded_bytes"]!, job.Chunks.DecodedBytes);
        Assert.Equal(job.Chunks.ReadBytes, verified.Sum(r => r.ReadBytes));

        // What PBS writes: verify_state on every snapshot whose manifest loaded, with this job's UPID.
        foreach (var r in results)
        {
            if (!File.Exists(r.BackupSnapshot.ManifestPath))
            {
                Assert.Null(r.VerifyStateUpid);
                continue;
            }
            var state = BackupManifest.Load(r.BackupSnapshot.ManifestPath).VerifyState!;
            Assert.Equal(r.Ok ? "ok" : "failed", state.State);
            Assert.Equal(job.Upid.ToString(), state.Upid);
            Assert.Equal(job.Upid.ToString(), r.VerifyStateUpid);
        }
        Assert.Contains("Failed to verify the following snapshots/groups:", task.Logs);
        Assert.Contains("\tprod/db/ct/300/2024-03-02T03:00:00Z", task.Logs);
        Assert.Contains(task.Logs, l => l.StartsWith("can't verify chunk, load failed - store 'store1', unable to load chunk '", StringComparison.Ordinal)
            && l.EndsWith("' - No such file or directory (os error 2)", StringComparison.Ordinal));

        // Beyond the expected JSON: every per-archive figure, error text and file left behind is what the default
        // tuning (1 reader, 4 verify threads, inode order) produces.
        Assert.Equal(DefaultRun(withKey).Value, Outcome(results, copy.StorePath));
    }

    private static readonly Lazy<string>[] DefaultRuns = [new(() => RunDefault(false)), new(() => RunDefault(true))];

    private static Lazy<string> DefaultRun(bool withKey) => DefaultRuns[withKey ? 1 : 0];

    private static string RunDefault(bool withKey)
    {
        using var copy = SparseStoreCopy.Create();
        var store = OpenWithTuning(copy, null);
        var job = new VerifyJob(store, new VerifyOptions { Key = withKey ? Key() : null });
        Assert.Equal(new VerifyTuning(), job.Chunks.Tuning);
        return Outcome(job.VerifyGroups(AllGroups(store), NullTaskState.Instance), copy.StorePath);
    }

    /// <summary>
    /// What a run produced, independent of timing and thread interleaving: per snapshot its state and per archive its
    /// error, counters and chunk errors (sorted), then the <c>.bad</c> files and recorded verify states on disk.
    /// </summary>
    private static string Outcome(IEnumerable<SnapshotVerifyResult> results, string storePath)
    {
        var lines = new List<string>();
        foreach (var r in results)
        {
            lines.Add($"{Rel(r.BackupSnapshot)} {r.State} {r.Error} {r.SignatureOk}");
            foreach (var a in r.Archives)
                lines.Add($"  {a.Filename} {a.Error} {a.ChunksLoaded} {a.ReadBytes} {a.DecodedBytes} "
                    + string.Join(" | ", a.ChunkErrors.Select(e => $"{e.Digest} {e.Message}").Order(StringComparer.Ordinal)));
            if (File.Exists(r.BackupSnapshot.ManifestPath))
                lines.Add($"  verify_state {BackupManifest.Load(r.BackupSnapshot.ManifestPath).VerifyState?.State}");
        }
        lines.AddRange(Directory.EnumerateFiles(Path.Combine(storePath, ".chunks"), "*.bad", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(storePath, p)).Order(StringComparer.Ordinal));
        return string.Join("\n", lines).Replace(storePath, "<STORE>");
    }

    [Fact]
    public void TuningSetsOrderAndThreadsExplicitValuesWin()
    {
        using var copy = SparseStoreCopy.Create();
        var store = OpenWithTuning(copy, "chunk-order=none,default-verification-readers=3,default-verification-workers=7");
        Assert.Equal(new VerifyTuning(ChunkOrder.None, 3, 7), VerifyTuning.For(store));
        Assert.Equal(new VerifyTuning(ChunkOrder.None, 2, 7), VerifyTuning.For(store, readThreads: 2));
        Assert.Equal(new VerifyTuning(ChunkOrder.None, 3, 32), new VerifyJob(store, new VerifyOptions { VerifyThreads = 32 }).Chunks.Tuning);
        Assert.Equal(new VerifyTuning(ChunkOrder.Inode, 1, 4), VerifyTuning.For(OpenWithTuning(copy, "sync-level=file")));
        Assert.Equal(new VerifyTuning(ChunkOrder.Inode, 1, 4), VerifyTuning.For(Datastore.Open(copy.StorePath, "store1", DatastoreConfig.Parse(""))));
    }

    [Theory]
    [InlineData("chunk-order=random", "tuning chunk-order 'random' is not 'inode' or 'none'")]
    [InlineData("chunk-order=", "tuning chunk-order '' is not 'inode' or 'none'")]
    [InlineData("default-verification-readers=0", "tuning default-verification-readers '0' is not a number from 1 to 32")]
    [InlineData("default-verification-workers=33", "tuning default-verification-workers '33' is not a number from 1 to 32")]
    [InlineData("default-verification-workers=four", "tuning default-verification-workers 'four' is not a number from 1 to 32")]
    [InlineData("default-verification-readers=-1", "tuning default-verification-readers '-1' is not a number from 1 to 32")]
    public void InvalidTuningIsAConfigErrorNamingTheStore(string tuning, string detail)
    {
        using var copy = SparseStoreCopy.Create();
        var store = OpenWithTuning(copy, tuning);
        var e = Assert.Throws<PbsException>(() => new VerifyJob(store, new VerifyOptions { Fast = true }));
        Assert.Equal("InvalidDatastoreConfig", e.ErrorId);
        Assert.Equal(PbsErrorKind.InvalidData, e.Kind);
        Assert.Equal($"datastore 'store1': {detail}", e.Message);
        // An explicit count does not make a broken tuning value acceptable.
        Assert.Throws<PbsException>(() => VerifyTuning.For(store, 1, 1));
    }

    [Theory]
    [InlineData(0, 4)]
    [InlineData(1, 33)]
    public void ThreadCountsOutsidePbsRangeAreRefused(int readers, int workers)
    {
        var e = Assert.Throws<PbsException>(() => new VerifyTuning(ChunkOrder.Inode, readers, workers));
        Assert.Equal("InvalidThreadCount", e.ErrorId);
        Assert.Equal(PbsErrorKind.InvalidArgument, e.Kind);
    }

    /// <summary>The error lines of the expected JSON (store path as &lt;STORE&gt;).</summary>
    private static IEnumerable<string> OracleErrors(SnapshotVerifyResult r, string storePath)
    {
        if (r.State == SnapshotVerifyState.Failed && r.Archives.Count == 0)
            yield return r.Error!.Replace(storePath, "<STORE>");
        foreach (var a in r.Archives.Where(a => !a.Ok))
            yield return $"verify {Rel(r.BackupSnapshot)}/{a.Filename} failed: {a.Error}";
    }

    [Fact]
    public void DryRunChangesNothing()
    {
        using var copy = SparseStoreCopy.Create();
        var store = Datastore.Open(copy.StorePath, "store1");
        var before = Snapshot(copy.StorePath);
        var job = new VerifyJob(store, new VerifyOptions { DryRun = true });
        var results = job.VerifyGroups(AllGroups(store), NullTaskState.Instance);
        Assert.Equal(13, results.Count(r => r.Ok));
        Assert.All(results, r => Assert.Null(r.VerifyStateUpid));
        Assert.Equal(before, Snapshot(copy.StorePath));
    }

    [Fact]
    public void FastModeChecksExistenceOnly()
    {
        using var copy = SparseStoreCopy.Create();
        var store = Datastore.Open(copy.StorePath, "store1");
        var before = Snapshot(copy.StorePath);
        var job = new VerifyJob(store, new VerifyOptions { Fast = true });
        var results = job.VerifyGroups(AllGroups(store), NullTaskState.Instance);
        Assert.Equal(Expected(false)["failed_snapshots"]!.AsArray().Select(x => (string)x!),
            results.Where(r => !r.Ok).Select(r => Rel(r.BackupSnapshot)).Order(StringComparer.Ordinal));
        var failure = results.Single(r => Rel(r.BackupSnapshot) == "ns/prod/ns/db/ct/300/2024-03-02T03:00:00Z").Archives.Single(a => !a.Ok);
        Assert.StartsWith("fast_index_verification error, stat_chunk ", failure.Error);
        Assert.EndsWith(" failed - No such file or directory (os error 2)", failure.Error);
        Assert.Equal(0, job.Chunks.ChunksLoaded);
        Assert.Equal(before, Snapshot(copy.StorePath));
    }

    [Fact]
    public void IgnoreVerifiedSkipsSnapshotsWithAState()
    {
        using var copy = SparseStoreCopy.Create();
        var store = Datastore.Open(copy.StorePath, "store1");
        var task = new RecordingTaskState();
        var job = new VerifyJob(store, new VerifyOptions { IgnoreVerified = true, DryRun = true });
        var results = job.VerifyGroups(AllGroups(store), task);
        var skipped = results.Where(r => r.State == SnapshotVerifyState.Skipped).Select(r => Rel(r.BackupSnapshot)).Order(StringComparer.Ordinal).ToList();
        var withState = results.Where(r => File.Exists(r.BackupSnapshot.ManifestPath) && BackupManifest.Load(r.BackupSnapshot.ManifestPath).VerifyState is not null)
            .Select(r => Rel(r.BackupSnapshot)).Order(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(skipped);
        Assert.Equal(withState, skipped);
        Assert.Contains("SKIPPED: verify store1:vm/100/2024-03-03T10:00:00Z (recently verified)", task.Logs);
        // A skipped snapshot counts as success, even one whose recorded state is failed.
        Assert.All(results.Where(r => r.State == SnapshotVerifyState.Skipped), r => Assert.True(r.Ok));
    }

    [Theory]
    [InlineData(1, 4, ChunkOrder.Inode)]
    [InlineData(3, 1, ChunkOrder.None)]
    [InlineData(3, 4, ChunkOrder.Inode)]
    public void CorruptChunkIsReportedRenamedAndRecorded(int readers, int workers, ChunkOrder order)
    {
        using var copy = SparseStoreCopy.Create();
        var store = OpenWithTuning(copy, $"chunk-order={order.ToString().ToLowerInvariant()}");
        // A plain chunk referenced by more than one snapshot.
        var chunk = ReferenceStore.Expected["store"]!["chunks"]!.AsArray()
            .Where(c => (string)c!["kind"]! == "compressed" && c["referenced_by"]!.AsArray().Count > 1)
            .OrderBy(c => (string)c!["digest"]!, StringComparer.Ordinal).First()!;
        var chunkPath = Path.Combine(copy.StorePath, (string)chunk["path"]!);
        var users = chunk["referenced_by"]!.AsArray().Select(p => Path.GetDirectoryName((string)p!)!).Distinct().Order(StringComparer.Ordinal).ToList();

        var corrupted = File.ReadAllBytes(chunkPath);
        corrupted[^1] ^= 0x55; // a payload byte: the CRC no longer matches
        for (var round = 0; round < 2; round++)
        {
            File.WriteAllBytes(chunkPath, corrupted);

            var task = new RecordingTaskState();
            var job = new VerifyJob(store, new VerifyOptions { ReadThreads = readers, VerifyThreads = workers });
            var results = job.VerifyGroups(AllGroups(store), task);

            var failed = results.Where(r => r.ChunkErrors.Any(e => e.Digest == (string)chunk["digest"]!)).Select(r => Rel(r.BackupSnapshot)).Order(StringComparer.Ordinal);
            Assert.Equal(users, failed);
            Assert.False(File.Exists(chunkPath));
            Assert.True(File.Exists($"{chunkPath}.{round}.bad"));
            Assert.Contains($"corrupted chunk renamed to \"{chunkPath}.{round}.bad\"", task.Logs);
            Assert.Contains(task.Logs, l => l == $"can't verify chunk, load failed - store 'store1', unable to load chunk '{chunk["digest"]}' - Data blob has wrong CRC checksum.");
            foreach (var user in users)
                Assert.Equal("failed", BackupManifest.Load(Path.Combine(copy.StorePath, user, "index.json.blob")).VerifyState!.State);
        }
    }

    [Fact]
    public void WrongDigestIsCorrupt()
    {
        using var copy = SparseStoreCopy.Create();
        var store = Datastore.Open(copy.StorePath, "store1");
        var chunk = ReferenceStore.Expected["store"]!["chunks"]!.AsArray()
            .First(c => (string)c!["kind"]! == "compressed" && c["referenced_by"]!.AsArray().Count > 0)!;
        var chunkPath = Path.Combine(copy.StorePath, (string)chunk["path"]!);
        var users = chunk["referenced_by"]!.AsArray().Select(p => Path.GetDirectoryName((string)p!)!).Distinct().Order(StringComparer.Ordinal).ToList();
        // A well-formed blob of the same length with other content: CRC fine, digest wrong.
        File.WriteAllBytes(chunkPath, DataBlob.Encode(Enumerable.Repeat((byte)0xab, (int)chunk["decoded_len"]!).ToArray(), null, compress: true).Raw.ToArray());

        var results = new VerifyJob(store, new VerifyOptions()).VerifyGroups(AllGroups(store), NullTaskState.Instance);

        var hit = results.Where(r => r.ChunkErrors.Any(e => e.Digest == (string)chunk["digest"]!)).ToList();
        Assert.Equal(users, hit.Select(r => Rel(r.BackupSnapshot)).Order(StringComparer.Ordinal));
        Assert.All(hit, r => Assert.False(r.Ok));
        Assert.Equal("detected chunk with wrong digest.", hit[0].ChunkErrors.First(e => e.Digest == (string)chunk["digest"]!).Message);
        Assert.True(File.Exists(chunkPath + ".0.bad"));
    }

    private static Dictionary<string, string> Snapshot(string root) =>
        Directory.EnumerateFiles(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .ToDictionary(p => Path.GetRelativePath(root, p), p => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(p))));
}
