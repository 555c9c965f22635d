using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Locking;
using PbsDatastore.Core.Native;

namespace PbsDatastore.Core.Hierarchy;

/// <summary>Changing a snapshot under PBS's locks: destroy (§10.1), protection (§10.4), manifest updates (§5.5).</summary>
public sealed partial class BackupSnapshot
{
    /// <summary>
    /// PBS's `destroy(force)`: unless forced, exclusive snapshot lock then manifest lock; refuse a protected
    /// snapshot (tested only under the lock); remove the directory (never following symlinks); unlink the lock
    /// files while still holding them; in PBS ≥ 3.3.5 new mode, remove the group if it is left empty. Forced
    /// destroy takes no lock: only for a caller that already holds the snapshot lock (a failed backup).
    /// </summary>
    public void Destroy(bool force = false, ITaskState? state = null)
    {
        Datastore.CheckOperation(DatastoreOperation.Write);
        EnsureCanonicalName();
        RequireExists();
        if (force)
        {
            RemoveLocked(state);
            return;
        }
        DestroyLocked(state);
        if (Datastore.Locking.Cleanup == GroupCleanup.RemoveEmptyGroups)
            Group.RemoveIfEmpty(state);
    }

    /// <summary>Non-forced destroy: exclusive snapshot lock, manifest lock, remove, unlink the lock files held.</summary>
    internal void DestroyLocked(ITaskState? state)
    {
        EnsureCanonicalName();
        using var snapshotLock = BackupLocks.LockSnapshot(this, exclusive: true, "possibly running or in use");
        using var manifestLock = BackupLocks.LockManifest(this);
        RemoveLocked(state);
        manifestLock.UnlinkLockFiles();
        snapshotLock.UnlinkLockFiles();
    }

    /// <summary>
    /// Protected check and removal; the caller holds the snapshot and manifest locks. On S3 the snapshot's objects
    /// go first, as in PBS 4.2: a failed delete leaves the cache untouched and the removal can be repeated.
    /// </summary>
    internal void RemoveLocked(ITaskState? state)
    {
        if (IsProtected)
            throw new PbsException("SnapshotProtected", PbsErrorKind.InvalidOperation,
                $"cannot remove protected snapshot {this}", FullPath);
        state?.Log($"removing backup snapshot \"{FullPath}\"");
        Datastore.S3Mirror?.DeleteContentDirectory(RelativePath);
        try { TreeRemoval.Remove(FullPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PbsException("RemoveFailed", PbsErrorKind.WriteError,
                $"removing backup snapshot \"{FullPath}\" failed - {e.Message}", FullPath, e);
        }
    }

    /// <summary>
    /// Sets or clears protection (`.protected`) under the exclusive snapshot lock, as PBS does; no manifest lock.
    /// On S3 the marker object is written or deleted before the local file.
    /// </summary>
    public void SetProtected(bool value)
    {
        Datastore.CheckOperation(DatastoreOperation.Write);
        EnsureCanonicalName();
        RequireExists();
        using var _ = BackupLocks.LockSnapshot(this, exclusive: true, "possibly running or in use");
        if (Datastore.S3Mirror is { } s3)
        {
            var key = $"{RelativePath}/{ProtectedFileName}";
            if (value) s3.UploadContent(key, []);
            else s3.DeleteContent(key);
        }
        if (value)
        {
            // O_NOFOLLOW: a planted symlink named .protected must not make us create or truncate its target.
            var fd = Libc.Open(ProtectedPath, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_TRUNC | Libc.O_CLOEXEC | Libc.O_NOFOLLOW, 0x1B6);
            if (fd < 0)
                throw new PbsException("WriteFailed", PbsErrorKind.WriteError,
                    $"could not create protection file: {Libc.StrError(Libc.LastErrno)}", ProtectedPath);
            try
            {
                if (BackupOwner.ForNewFiles() is var (uid, gid)) Libc.Fchown(fd, uid, gid);
            }
            finally { Libc.Close(fd); }
        }
        else if (Libc.Unlink(ProtectedPath) != 0 && Libc.LastErrno != Libc.ENOENT)
            throw new PbsException("WriteFailed", PbsErrorKind.WriteError,
                $"could not remove protection file: {Libc.StrError(Libc.LastErrno)}", ProtectedPath);
    }

    /// <summary>Loads the manifest without a lock (fine for reading, §5.4).</summary>
    public BackupManifest LoadManifest()
    {
        if (!IsFinished)
            throw new PbsException("ManifestNotFound", PbsErrorKind.ObjectNotFound,
                $"snapshot {this} has no manifest (unfinished)", ManifestPath);
        return BackupManifest.Load(ManifestPath);
    }

    /// <summary>
    /// PBS's `update_manifest`: manifest lock (waits up to 5 s), load, <paramref name="modify"/>, then atomic
    /// replace (compressed plain blob, 0644, no fsync). For a signed manifest only `unprotected` may change:
    /// anything that would invalidate the signature is refused (SignedManifestChange) and nothing is written.
    /// Returns the manifest as written. <paramref name="operation"/> is what the maintenance mode is checked for:
    /// Write for edits, Read for verify's state (PBS's verify runs on a store it looked up for reading).
    /// </summary>
    public BackupManifest UpdateManifest(Action<BackupManifest> modify, TimeSpan? lockTimeout = null,
        DatastoreOperation operation = DatastoreOperation.Write)
    {
        Datastore.CheckOperation(operation);
        EnsureCanonicalName();
        WarmUp();
        using var _ = BackupLocks.LockManifest(this, lockTimeout);
        var manifest = LoadManifest();
        var signature = manifest.Signature;
        var signed = signature != null ? manifest.ToCanonicalSignedJson() : null;
        modify(manifest);
        if (signature != null && (manifest.Signature != signature || manifest.ToCanonicalSignedJson() != signed))
            throw new PbsException("SignedManifestChange", PbsErrorKind.SecurityError,
                $"refusing to change the signed part of the manifest of {this}: only 'unprotected' may change without the key", ManifestPath);
        var blob = manifest.ToBlob().Raw;
        // On S3 the bucket copy is updated first, as PBS does, so a failed upload leaves both unchanged.
        Datastore.S3Mirror?.UploadContent($"{RelativePath}/{ManifestFileName}", blob.ToArray());
        AtomicFile.Replace(ManifestPath, blob, AtomicFile.DefaultMode, BackupOwner.ForNewFiles());
        return manifest;
    }

    /// <summary>
    /// Reads and re-encodes the manifest once without the lock (reading needs none, §5.4), so the decoder and
    /// encoder are loaded and compiled before the lock is taken: PBS waits at most 5 s for a manifest lock.
    /// </summary>
    private void WarmUp()
    {
        try
        {
            var m = LoadManifest();
            _ = m.ToBlob();
            if (m.Signature != null) _ = m.ToCanonicalSignedJson();
        }
        catch (PbsException) { /* reported under the lock */ }
    }

    /// <summary>Snapshot notes (`unprotected.notes`) through the manifest update; null removes them.</summary>
    public BackupManifest SetNotes(string? notes) => UpdateManifest(m => m.Notes = notes);

    /// <summary>
    /// Files in a finished snapshot that its manifest does not account for (leftover temp files of crashed
    /// writers, stray files): everything except the manifest, `client.log.blob`, `.protected` and the listed
    /// archives. Directories are not included (they are never PBS's).
    /// </summary>
    public IReadOnlyList<string> FindUnlistedFiles()
    {
        var manifest = LoadManifest();
        var keep = new HashSet<string>(manifest.Files.Select(f => f.Filename), StringComparer.Ordinal)
        {
            ManifestFileName, ClientLogFileName, ProtectedFileName,
        };
        return FileSystemEntries.List(FullPath)
            .Where(e => e.Kind != EntryKind.Directory && !keep.Contains(e.Name))
            .Select(e => e.Name).OrderBy(n => n, StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Removes <see cref="FindUnlistedFiles"/> under the exclusive snapshot lock; returns what went. On S3 each
    /// file's object (if it was ever uploaded) is deleted first, as for every removal (addendum §4.7).
    /// </summary>
    public IReadOnlyList<string> RemoveUnlistedFiles(ITaskState? state = null)
    {
        Datastore.CheckOperation(DatastoreOperation.Write);
        EnsureCanonicalName();
        RequireExists();
        using var _ = BackupLocks.LockSnapshot(this, exclusive: true, "possibly running or in use");
        var files = FindUnlistedFiles();
        foreach (var name in files)
        {
            var path = Path.Combine(FullPath, name);
            state?.Log($"removing unlisted file \"{path}\"");
            Datastore.S3Mirror?.DeleteContent($"{RelativePath}/{name}");
            try { TreeRemoval.UnlinkFile(path); }
            catch (IOException e)
            {
                throw new PbsException("RemoveFailed", PbsErrorKind.WriteError, $"removing \"{path}\" failed - {e.Message}", path, e);
            }
        }
        return files;
    }

    private void RequireExists()
    {
        if (!Exists)
            throw new PbsException("SnapshotNotFound", PbsErrorKind.ObjectNotFound,
                $"snapshot {this} does not exist!", FullPath);
    }
}
