using PbsDatastore.Core.Locking;

using PbsDatastore.Core.Native;

namespace PbsDatastore.Core.Hierarchy;

/// <summary>Outcome for one group of a move; <see cref="Failure"/> set when (part of) the group stayed behind.</summary>
public sealed record GroupMoveResult(BackupGroup Source, BackupGroup Target, int MovedSnapshots, bool Merged, bool SourceRemoved,
    PbsException? Failure)
{
    public bool Succeeded => Failure is null;
}

/// <summary>Outcome of a move: per group, plus the namespaces created and removed.</summary>
public sealed record MoveResult(MovePlan Plan, IReadOnlyList<GroupMoveResult> Groups,
    IReadOnlyList<BackupNamespace> CreatedNamespaces, IReadOnlyList<BackupNamespace> RemovedNamespaces)
{
    public bool Complete => Groups.All(g => g.Succeeded);

    /// <summary>Groups that still have snapshots (or their directory) in the source.</summary>
    public IReadOnlyList<BackupGroup> LeftBehind => Groups.Where(g => !g.Succeeded).Select(g => g.Source).ToList();
}

/// <summary>Executing a move under PBS's locks (addendum §5.2), journaling every snapshot before its rename (§5.3).</summary>
public sealed partial class MovePlan
{
    /// <summary>PBS locks and moves at most this many snapshots of a group at once.</summary>
    public const int BatchSize = 512;

    /// <summary>
    /// Runs the plan. For the whole move a shared chunk-store lock is held, so no external GC (PBS's own, which
    /// needs the exclusive lock; before 4.1.9 it ignores the move journal) can walk the store while snapshots change
    /// directories; a running GC makes the move fail before anything changes. Group failures (a busy lock, …) are
    /// recorded per group, busy locks retried once; the emptied source namespaces are removed deepest first.
    /// </summary>
    public MoveResult Execute(ITaskState? state = null)
    {
        state ??= NullTaskState.Instance;
        CheckStore(Datastore);
        if (Datastore.Config is null)
            state.Log($"datastore \"{Datastore.Path}\" is not configured in datastore.cfg: no PBS garbage collection knows it, so no move journal is written");
        using var chunkStoreLock = LockChunkStore();
        var created = new List<BackupNamespace>();
        foreach (var ns in NamespacesToCreate)
        {
            if (Datastore.NamespaceExists(ns)) continue;
            RequireRealDirectories(Datastore, Datastore.NamespacePath(ns));
            state.Log($"creating namespace '{ns.Name}'");
            Datastore.CreateNamespace(ns);
            created.Add(ns);
        }

        var total = Math.Max(1, SnapshotCount);
        var done = 0;
        var results = new GroupMoveResult[Groups.Count];
        for (var pass = 0; pass < 2; pass++)
        {
            for (var i = 0; i < Groups.Count; i++)
            {
                if (pass == 1 && results[i].Failure?.ErrorId != "LockBusy") continue;
                state.CheckAbort();
                var move = Groups[i];
                if (pass == 1) state.Log($"retrying {move} after a lock conflict");
                var moved = pass == 1 ? results[i].MovedSnapshots : 0;
                try
                {
                    var (count, removed) = MoveGroup(move, moved > 0, state, () =>
                    {
                        done++;
                        state.Progress(1, "Moving backup groups", $"{move} ({done}/{SnapshotCount} snapshots)", Math.Min(100, done * 100 / total));
                    });
                    results[i] = new GroupMoveResult(move.Source, move.Target, moved + count, move.Merge, removed, null);
                }
                catch (PbsException e) when (e.ErrorId != "OperationStopped")
                {
                    state.Warn($"moving {move} failed - {e.Message}");
                    var partial = e.Data["moved"] is int n ? n : 0;
                    results[i] = new GroupMoveResult(move.Source, move.Target, moved + partial, move.Merge, false, e);
                }
            }
        }
        state.Complete(1, "Moving backup groups");

        var removedNamespaces = new List<BackupNamespace>();
        foreach (var ns in NamespacesToRemove)
            if (RemoveEmptyNamespace(ns, state)) removedNamespaces.Add(ns);
        return new MoveResult(this, results, created, removedNamespaces);
    }

    private IDisposable LockChunkStore()
    {
        try { return ProcessLocker.For(Datastore.Path).TryShared(); }
        catch (PbsException e) when (e.ErrorId == "GarbageCollectionRunning")
        {
            throw new PbsException(e.ErrorId, e.Kind,
                $"cannot move backup groups in datastore '{Datastore.Name}' while a garbage collection runs (it holds the chunk store lock exclusively); try again when it has finished - {e.Message}",
                e.Target, e);
        }
    }

    /// <summary>
    /// One group: source lock, re-validation, target created or opened under its lock with the source owner,
    /// merge rules, snapshots in locked batches (journal, rename, lock files), notes, then the emptied source
    /// group removed with its lock held. <paramref name="resumed"/>: a retry after part of the group already moved.
    /// Returns the snapshots moved and whether the source group went.
    /// </summary>
    private (int Moved, bool SourceRemoved) MoveGroup(GroupMove move, bool resumed, ITaskState state, Action onSnapshot)
    {
        var (source, target) = (move.Source, move.Target);
        using var sourceLock = BackupLocks.LockGroup(source, "possible running backup");
        RequireRealDirectories(Datastore, source.FullPath);
        RequireRealDirectories(Datastore, target.FullPath);
        if (!source.Exists)
            throw new PbsException("GroupNotFound", PbsErrorKind.ObjectNotFound, $"backup group {source} does not exist", source.FullPath);
        if (source.Namespace == target.Namespace)
            throw new PbsException("MoveSameNamespace", PbsErrorKind.InvalidArgument,
                $"backup group {source} is already in namespace '{target.Namespace.Name}'", source.ToString());
        if (!Datastore.NamespaceExists(target.Namespace))
            throw new PbsException("NamespaceNotFound", PbsErrorKind.ObjectNotFound,
                $"target namespace '{target.Namespace.Name}' does not exist in datastore '{Datastore.Name}'", target.Namespace.Name);
        var existed = FileSystemEntries.KindOf(target.FullPath) != EntryKind.Missing;
        if (existed && !AllowMerge && !resumed)
            throw new PbsException("MoveTargetExists", PbsErrorKind.ResourceExists,
                $"backup group {target} already exists and merging is not allowed", target.ToString());
        var owner = source.ReadOwner() ?? throw new PbsException("InvalidOwner", PbsErrorKind.InvalidData,
            $"backup group {source} has no owner file", source.OwnerPath);
        var snapshots = source.ListSnapshots().ToList();
        foreach (var s in snapshots) s.EnsureCanonicalName();

        LockedGroup locked;
        try { locked = target.CreateAndLock(owner); }
        catch (PbsException e) when (e.ErrorId == "OwnerCheckFailed")
        {
            throw new PbsException("MoveOwnerMismatch", PbsErrorKind.InvalidOperation,
                $"cannot merge {source} into {target}: owners differ ({e.Message})", target.ToString(), e);
        }
        var moved = 0;
        using (locked)
        {
            try
            {
                if (existed) CheckMerge(source, owner, target, snapshots);
                state.Log($"moving {snapshots.Count} snapshots of {source} to {target}{(existed ? " (merging)" : "")}");
                foreach (var batch in snapshots.Chunk(BatchSize))
                {
                    var locks = LockBatch(batch);
                    try
                    {
                        for (var i = 0; i < batch.Length; i++)
                        {
                            state.CheckAbort();
                            MoveSnapshot(batch[i], target, locks[i]);
                            moved++;
                            onSnapshot();
                        }
                    }
                    finally
                    {
                        foreach (var l in locks) l.Dispose();
                    }
                }
                MoveNotes(source, target, state);
            }
            catch (PbsException e)
            {
                // A group this move created but could not fill goes again (still locked); else PBS's empty group stays.
                if (!existed && moved == 0 && !target.ListSnapshots(_ => { }).Any())
                {
                    try { target.RemoveEmptyLocked(locked.Lock); }
                    catch (PbsException cleanup) { state.Warn($"could not remove the new empty group {target} - {cleanup.Message}"); }
                }
                e.Data["moved"] = moved;
                throw;
            }
        }

        if (source.ListSnapshots(_ => { }).Any())
            throw new PbsException("MoveIncomplete", PbsErrorKind.InvalidOperation,
                $"backup group {source} still has snapshots after the move (created meanwhile?); it stays", source.FullPath);
        // Copies an interrupted or warned-about S3 delete left behind go before the group: a rerun completes the move.
        Datastore.S3Mirror?.DeleteMovedLeftovers(source.RelativePath, target.RelativePath);
        source.RemoveEmptyLocked(sourceLock);
        return (moved, true);
    }

    /// <summary>Exclusive, non-blocking locks on all snapshots of a batch; on a busy one the others are released.</summary>
    private static PbsLock[] LockBatch(BackupSnapshot[] batch)
    {
        var locks = new List<PbsLock>(batch.Length);
        try
        {
            foreach (var s in batch) locks.Add(BackupLocks.LockSnapshot(s, exclusive: true, "possibly running or in use"));
            return locks.ToArray();
        }
        catch
        {
            foreach (var l in locks) l.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Journal the snapshot's future index paths, rename its directory into the target group (never replacing
    /// anything), then unlink its snapshot and manifest lock files, both held. The manifest lock keeps a manifest
    /// update (verify state, notes) from writing into the old path during the rename.
    /// </summary>
    private void MoveSnapshot(BackupSnapshot snapshot, BackupGroup target, PbsLock snapshotLock)
    {
        var dest = target.Snapshot(snapshot.DirectoryName);
        using var manifestLock = BackupLocks.LockManifest(snapshot);
        var indexes = FileSystemEntries.List(snapshot.FullPath)
            .Where(e => e.Kind == EntryKind.RegularFile && (e.Name.EndsWith(".fidx", StringComparison.Ordinal) || e.Name.EndsWith(".didx", StringComparison.Ordinal)))
            .Select(e => Path.Combine(dest.FullPath, e.Name))
            .OrderBy(p => p, StringComparer.Ordinal)
            .ToList();
        // Keyed by the configured name, as a GC drains it: a store datastore.cfg does not know has no PBS GC, and a
        // guessed name could belong to another store.
        if (Datastore.Config is not null) MoveJournal.Append(Datastore.Name, indexes);
        Rename(snapshot.FullPath, dest.FullPath, "snapshot");
        manifestLock.UnlinkLockFiles();
        snapshotLock.UnlinkLockFiles();
    }

    /// <summary>PBS's notes rule: only the source has notes → they move; both → the target's stay (warned if different).</summary>
    private void MoveNotes(BackupGroup source, BackupGroup target, ITaskState state)
    {
        var sourceNotes = source.ReadNotes();
        if (sourceNotes is null) return;
        var targetNotes = target.ReadNotes();
        if (targetNotes is null) Rename(source.NotesPath, target.NotesPath, "notes");
        else if (targetNotes != sourceNotes)
            state.Warn($"{target} keeps its own notes; the different notes of {source} are dropped");
    }

    private void Rename(string from, string to, string what)
    {
        using var lease = Datastore.LeaseBackend();
        var errno = Datastore.Backend.RenameNoReplace(Path.GetRelativePath(Datastore.Path, from), Path.GetRelativePath(Datastore.Path, to));
        if (errno != 0)
            throw new PbsException("MoveFailed", PbsErrorKind.WriteError,
                $"unable to move {what} \"{from}\" to \"{to}\" - {Libc.StrError(errno)}", from);
    }

    /// <summary>rmdir of an emptied source namespace (type directories first); anything left keeps it.</summary>
    private bool RemoveEmptyNamespace(BackupNamespace ns, ITaskState state)
    {
        var path = Datastore.NamespacePath(ns);
        foreach (var type in BackupTypes.All)
            Libc.Rmdir(Path.Combine(path, type.ToPbsString()));
        string why;
        try
        {
            var errno = Datastore.RemoveEmptyNamespaceDirectory(ns);
            if (errno is 0 or Libc.ENOENT) return errno == 0;
            why = Libc.StrError(errno);
        }
        catch (PbsException e) { why = e.Message; } // the bucket refused to drop the marker: the namespace stays
        state.Warn($"source namespace '{ns.Name}' not removed - {why}");
        return false;
    }
}
