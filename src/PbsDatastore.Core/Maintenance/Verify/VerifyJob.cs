using System.Security.Cryptography;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Locking;

namespace PbsDatastore.Core.Maintenance;

/// <summary>
/// One verify task over a datastore (PBS's VerifyWorker, spec §8): snapshots verified through one job share the
/// verified/corrupt chunk sets, so a chunk is normally read once per job. Not thread-safe: one snapshot at a time.
/// </summary>
public sealed class VerifyJob : IDisposable
{
    /// <summary>Progress activity of the run; <see cref="ProgressId"/> + 1 is the current snapshot's.</summary>
    public const int ProgressId = 1;

    private readonly Datastore _store;
    private readonly BackendLease _lease;
    // The bytes of the index being verified, reused for the next one (see IndexFile.Open).
    private byte[]? _indexBuffer;

    public VerifyJob(Datastore datastore, VerifyOptions options, Upid? upid = null)
    {
        // PBS looks the store up for reading: verification runs, and records its state, in read-only maintenance.
        datastore.CheckOperation(DatastoreOperation.Read);
        _store = datastore;
        Options = options;
        Upid = upid ?? Upid.Create("verify", datastore.Name, options.AuthId);
        // Held for the job's life: the command that opened the store may dispose it while this job still runs.
        _lease = datastore.LeaseBackend();
        var tuning = VerifyTuning.For(datastore, options.ReadThreads, options.VerifyThreads);
        Chunks = new ChunkVerifier(_lease.Backend, options.Key, tuning, dryRun: options.DryRun || options.Fast,
            ChunkVerifier.SeenSetBudget(options.MemoryLimit, tuning, options.Fast));
    }

    public VerifyOptions Options { get; }

    /// <summary>Ends the job's hold on the store's backend.</summary>
    public void Dispose() => _lease.Dispose();

    /// <summary>The task identifier written into each verified manifest's <c>verify_state</c>.</summary>
    public Upid Upid { get; }

    /// <summary>The chunk sets and counters of this job.</summary>
    public ChunkVerifier Chunks { get; }

    /// <summary>
    /// A UPID for verifying one snapshot, as PBS names that task: <c>verify_snapshot</c>, worker ID
    /// <c>&lt;store&gt;:&lt;ns path&gt;/&lt;type&gt;/&lt;id&gt;/&lt;time hex&gt;</c>.
    /// </summary>
    public static Upid SnapshotUpid(BackupSnapshot snapshot, string authId) => Upid.Create("verify_snapshot",
        $"{snapshot.Datastore.Name}:{snapshot.Namespace.Name}/{snapshot.Type.ToPbsString()}/{snapshot.Id}/{snapshot.Time:X8}", authId);

    /// <summary>A UPID for verifying one group: <c>verify_group</c>, <c>&lt;store&gt;:&lt;ns path&gt;/&lt;type&gt;/&lt;id&gt;</c>.</summary>
    public static Upid GroupUpid(BackupGroup group, string authId) => Upid.Create("verify_group",
        $"{group.Datastore.Name}:{group.Namespace.Name}/{group.Type.ToPbsString()}/{group.Id}", authId);

    /// <summary>PBS's per-snapshot procedure (§8.3).</summary>
    public SnapshotVerifyResult VerifySnapshot(BackupSnapshot snapshot, ITaskState task)
    {
        var name = $"{_store.Name}:{snapshot.SnapshotName}";
        if (!snapshot.Exists)
            return Skipped(snapshot, task, $"SKIPPED: verify {name} - snapshot does not exist (anymore).");

        PbsLock snapshotLock;
        try
        {
            snapshotLock = BackupLocks.LockSnapshot(snapshot, exclusive: false);
        }
        catch (PbsException e) when (e.Kind != PbsErrorKind.OperationStopped)
        {
            return Skipped(snapshot, task, $"SKIPPED: verify {name} - could not acquire snapshot lock: {e.Message}");
        }

        using (snapshotLock)
        {
            BackupManifest manifest;
            try
            {
                manifest = BackupManifest.Load(snapshot.ManifestPath);
            }
            catch (PbsException e)
            {
                var error = $"manifest load error: {LoadErrorText(snapshot.ManifestPath, e)}";
                task.Log($"verify {name} - {error}");
                return new SnapshotVerifyResult(snapshot, SnapshotVerifyState.Failed, error, []);
            }

            if (!VerifyFilter.ShouldVerify(manifest.Unprotected["verify_state"], Options.IgnoreVerified, Options.OutdatedAfterDays,
                    DateTimeOffset.UtcNow.ToUnixTimeSeconds()))
                return Skipped(snapshot, task, $"SKIPPED: verify {name} (recently verified)");

            task.Log($"verify {name}");
            var archives = new List<ArchiveVerifyResult>();
            for (var i = 0; i < manifest.Files.Count; i++)
            {
                var file = manifest.Files[i];
                task.Log($"  check {file.Filename}");
                task.Progress(ProgressId + 1, $"Verify {snapshot}", $"check {file.Filename}", i * 100 / manifest.Files.Count);
                var result = VerifyArchive(snapshot, file, task);
                task.CheckAbort();
                if (result.Error is not null)
                    task.Log($"verify {name}/{file.Filename} failed: {result.Error}");
                archives.Add(result);
            }

            task.Complete(ProgressId + 1, $"Verify {snapshot}");

            bool? signatureOk = null;
            string? signatureError = null;
            if (Options.Key is { } key && manifest.Signature is not null)
            {
                try { manifest.CheckSignature(key); signatureOk = true; }
                catch (PbsException e) { signatureOk = false; signatureError = e.Message; task.Log($"verify {name} - {e.Message}"); }
            }

            var ok = signatureOk != false && archives.All(a => a.Ok);
            string? upid = null;
            if (!Options.DryRun && !Options.Fast)
            {
                upid = Upid.ToString();
                WriteVerifyState(snapshot, ok, upid);
            }
            return new SnapshotVerifyResult(snapshot, ok ? SnapshotVerifyState.Ok : SnapshotVerifyState.Failed, signatureError, archives)
            {
                SignatureOk = signatureOk,
                VerifyStateUpid = upid,
            };
        }
    }

    /// <summary>
    /// PBS's group run (§8.6): snapshots newest first, <c>percentage done</c> after each (logged and as progress).
    /// <paramref name="progress"/> is the datastore-level position (done/total groups).
    /// </summary>
    public IReadOnlyList<SnapshotVerifyResult> VerifyGroup(BackupGroup group, ITaskState task, StoreProgress? progress = null)
    {
        List<BackupSnapshot> snapshots;
        try
        {
            snapshots = group.ListSnapshots().OrderByDescending(s => s.Time).ToList();
        }
        catch (PbsException e)
        {
            task.Log($"verify {LogText.StoreAndNamespace(_store, group.Namespace)}, group {group.GroupName} - unable to list backups: {e.Message}");
            return [];
        }
        task.Log($"verify group {_store.Name}:{group.GroupName} ({snapshots.Count} snapshots)");
        var position = (progress ?? new StoreProgress(0, 1, 0, 0)) with { DoneSnapshots = 0, GroupSnapshots = snapshots.Count };
        var results = new List<SnapshotVerifyResult>();
        foreach (var snapshot in snapshots)
        {
            var result = VerifySnapshot(snapshot, task);
            results.Add(result);
            position = position with { DoneSnapshots = position.DoneSnapshots + 1 };
            task.Log($"percentage done: {position}");
            task.Progress(ProgressId, $"Verify {_store.Name}", $"{position}, {snapshot}", (int)(position.Percentage * 100));
        }
        return results;
    }

    /// <summary>PBS's datastore/namespace run (§8.6), all results at once (see <see cref="VerifyByGroup"/>).</summary>
    public IReadOnlyList<SnapshotVerifyResult> VerifyGroups(IEnumerable<BackupGroup> groups, ITaskState task)
        => VerifyByGroup(groups, task).SelectMany(r => r).ToList();

    /// <summary>
    /// PBS's datastore/namespace run (§8.6): <see cref="OrderGroups"/>, then each group, its results yielded as soon
    /// as the group is done, and <see cref="ReportFailures"/> after the last.
    /// </summary>
    public IEnumerable<IReadOnlyList<SnapshotVerifyResult>> VerifyByGroup(IEnumerable<BackupGroup> groups, ITaskState task)
    {
        var list = OrderGroups(groups, task);
        var failed = new List<SnapshotVerifyResult>();
        for (var i = 0; i < list.Count; i++)
        {
            var results = VerifyGroup(list[i], task, new StoreProgress(i, list.Count, 0, 0));
            failed.AddRange(results.Where(r => r.State == SnapshotVerifyState.Failed));
            yield return results;
        }
        ReportFailures(failed, task);
    }

    /// <summary>
    /// The groups of a datastore run in PBS's order (type, then ID), <c>host/benchmark</c> left out, with PBS's
    /// opening log lines.
    /// </summary>
    public IReadOnlyList<BackupGroup> OrderGroups(IEnumerable<BackupGroup> groups, ITaskState task)
    {
        var list = groups.Where(g => !(g.Type == BackupType.Host && g.Id == "benchmark"))
            .OrderBy(g => g, PbsGroupOrder.Instance).ToList();
        task.Log($"verify datastore {_store.Name}");
        task.Log($"found {list.Count} groups");
        return list;
    }

    /// <summary>PBS's closing lines of a run that had failures.</summary>
    public static void ReportFailures(IEnumerable<SnapshotVerifyResult> results, ITaskState task)
    {
        var failed = results.Where(r => r.State == SnapshotVerifyState.Failed).ToList();
        if (failed.Count == 0)
            return;
        task.Log("Failed to verify the following snapshots/groups:");
        foreach (var r in failed)
            task.Log(r.BackupSnapshot.Namespace.IsRoot ? $"\t{r.BackupSnapshot.SnapshotName}" : $"\t{r.BackupSnapshot.Namespace.Name}/{r.BackupSnapshot.SnapshotName}");
    }

    private ArchiveVerifyResult VerifyArchive(BackupSnapshot snapshot, ManifestFile file, ITaskState task)
    {
        var path = Path.Combine(snapshot.FullPath, file.Filename);
        try
        {
            if (file.Filename.EndsWith(".blob", StringComparison.Ordinal))
                return new ArchiveVerifyResult(file.Filename, VerifyBlob(path, file), 0, 0, 0, []);
            if (!file.Filename.EndsWith(".fidx", StringComparison.Ordinal) && !file.Filename.EndsWith(".didx", StringComparison.Ordinal))
                return new ArchiveVerifyResult(file.Filename, $"unknown archive type '{file.Filename}'", 0, 0, 0, []);

            var index = IndexFile.Open(path, ref _indexBuffer);
            var size = index.IndexBytes;
            if ((ulong)size != file.Size)
                return new ArchiveVerifyResult(file.Filename, $"wrong size ({file.Size} != {size})", 0, 0, 0, []);
            if (Convert.ToHexStringLower(index.ComputeCsum()) != file.Csum)
                return new ArchiveVerifyResult(file.Filename, "wrong index checksum", 0, 0, 0, []);

            if (Options.Fast)
            {
                var missing = Chunks.VerifyIndexFast(index, file.Filename);
                return new ArchiveVerifyResult(file.Filename, missing?.Message, 0, 0, 0, missing is null ? [] : [missing]);
            }
            var chunks = Chunks.VerifyIndexChunks(index, file.CryptMode, file.Filename, task);
            return new ArchiveVerifyResult(file.Filename, chunks.Errors > 0 ? "chunks could not be verified" : null,
                chunks.ChunksLoaded, chunks.ReadBytes, chunks.DecodedBytes, chunks.ChunkErrors) { ChunksChecked = chunks.ChunksChecked };
        }
        catch (PbsException e) when (e.Kind != PbsErrorKind.OperationStopped)
        {
            return new ArchiveVerifyResult(file.Filename, e.Message, 0, 0, 0, []);
        }
    }

    /// <summary>§8.4 blob check: CRC at load, raw size and SHA-256 against the manifest, decodable if plain.</summary>
    private static string? VerifyBlob(string path, ManifestFile file)
    {
        DataBlob blob;
        try
        {
            blob = DataBlob.Load(path);
        }
        catch (PbsException e)
        {
            return LoadErrorText(path, e);
        }
        if ((ulong)blob.Raw.Length != file.Size)
            return $"wrong size ({file.Size} != {blob.Raw.Length})";
        if (Convert.ToHexStringLower(SHA256.HashData(blob.Raw)) != file.Csum)
            return "wrong index checksum";
        if (!blob.Kind.IsEncrypted())
            blob.Decode();
        return null;
    }

    private void WriteVerifyState(BackupSnapshot snapshot, bool ok, string upid)
    {
        try
        {
            snapshot.UpdateManifest(manifest => manifest.VerifyState = new VerifyState(ok ? "ok" : "failed", upid),
                operation: DatastoreOperation.Read);
        }
        catch (PbsException e) when (e.Kind != PbsErrorKind.OperationStopped)
        {
            throw new PbsException("VerifyStateWriteFailed", e.Kind, $"unable to update manifest blob - {e.Message}", snapshot.ManifestPath, e);
        }
    }

    /// <summary>PBS's <c>unable to load blob '"path"' - err</c>, with OS errors worded as Rust prints them.</summary>
    private static string LoadErrorText(string path, PbsException e)
    {
        var detail = e.ErrorId switch
        {
            "BlobNotFound" => ChunkVerifier.OsError(Native.Libc.ENOENT),
            _ when e.Kind == PbsErrorKind.PermissionDenied => ChunkVerifier.OsError(Native.Libc.EACCES),
            _ => e.Message,
        };
        return $"unable to load blob '\"{path}\"' - {detail}";
    }

    private static SnapshotVerifyResult Skipped(BackupSnapshot snapshot, ITaskState task, string message)
    {
        task.Log(message);
        return new SnapshotVerifyResult(snapshot, SnapshotVerifyState.Skipped, message, []);
    }

    /// <summary>PBS's order of groups in a datastore verify: type, then ID (namespace only as a tie-break).</summary>
    private sealed class PbsGroupOrder : IComparer<BackupGroup>
    {
        public static readonly PbsGroupOrder Instance = new();

        public int Compare(BackupGroup? a, BackupGroup? b)
        {
            var c = a!.Type.CompareTo(b!.Type);
            if (c == 0) c = BackupGroup.CompareIds(a.Id, b.Id);
            return c != 0 ? c : a.Namespace.CompareTo(b.Namespace);
        }
    }
}
