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

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DatastoreVerifyMatchesPbs(bool withKey)
    {
        using var copy = SparseStoreCopy.Create();
        var store = Datastore.Open(copy.StorePath, "store1");
        var expected = Expected(withKey);
        var task = new RecordingTaskState();
        var job = new VerifyJob(store, new VerifyOptions { Key = withKey ? Key() : null, DecoderThreads = 2 });

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

    [Fact]
    public void CorruptChunkIsReportedRenamedAndRecorded()
    {
        using var copy = SparseStoreCopy.Create();
        var store = Datastore.Open(copy.StorePath, "store1");
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
            var job = new VerifyJob(store, new VerifyOptions());
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
