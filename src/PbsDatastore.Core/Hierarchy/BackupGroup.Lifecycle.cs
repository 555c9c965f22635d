using System.Text;
using PbsDatastore.Core.Locking;
using PbsDatastore.Core.Native;

namespace PbsDatastore.Core.Hierarchy;

/// <summary>Outcome of a group destroy: PBS keeps protected snapshots and then the group directory too.</summary>
public sealed record GroupRemovalResult(BackupGroup Group, int RemovedSnapshots, int ProtectedSnapshots, bool GroupRemoved);

/// <summary>Changing a group under PBS's locks: destroy (§10.2), owner and notes (§10.4), locked creation (§6.4).</summary>
public sealed partial class BackupGroup
{
    /// <summary>
    /// PBS's group destroy: exclusive group lock; every snapshot that is not protected is destroyed with its own
    /// locks (any error aborts, removed ones stay removed); only when nothing was protected does the group go —
    /// the whole directory up to PBS 3.3.4, nothing more in 3.3.5+ old-locking mode, notes/owner/rmdir and the
    /// lock file in new mode (as the store's <see cref="LockScheme.Cleanup"/> says).
    /// </summary>
    public GroupRemovalResult Destroy(ITaskState? state = null)
    {
        Datastore.CheckOperation(DatastoreOperation.Write);
        RequireExists();
        using var groupLock = BackupLocks.LockGroup(this, "possible running backup");
        state?.Log($"removing backup group \"{FullPath}\"");
        int removed = 0, protectedCount = 0;
        foreach (var snapshot in ListSnapshots())
        {
            state?.CheckAbort();
            if (snapshot.IsProtected)
            {
                protectedCount++;
                continue;
            }
            // The group lock we hold makes the per-snapshot empty-group cleanup pointless: done once below.
            snapshot.DestroyLocked(state);
            removed++;
        }
        var groupRemoved = false;
        if (protectedCount == 0)
        {
            switch (Datastore.Locking.Cleanup)
            {
                case GroupCleanup.RemoveGroupDirectory:
                    Datastore.S3Mirror?.DeleteContentDirectory(RelativePath);
                    try { TreeRemoval.Remove(FullPath); }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                    {
                        throw new PbsException("RemoveFailed", PbsErrorKind.WriteError,
                            $"removing group directory \"{FullPath}\" failed - {e.Message}", FullPath, e);
                    }
                    groupLock.UnlinkLockFiles();
                    groupRemoved = true;
                    break;
                case GroupCleanup.RemoveEmptyGroups:
                    RemoveEmptyLocked(groupLock);
                    groupRemoved = true;
                    break;
            }
        }
        else state?.Warn($"group {this} only partially deleted due to protected snapshots ({protectedCount})");
        return new GroupRemovalResult(this, removed, protectedCount, groupRemoved);
    }

    /// <summary>
    /// New-mode cleanup after a snapshot removal: if the group lock can be had at once and no snapshot is left,
    /// remove notes, owner, the directory (rmdir, not recursive) and the group lock file. Busy: silently nothing.
    /// </summary>
    internal void RemoveIfEmpty(ITaskState? state)
    {
        PbsLock groupLock;
        try { groupLock = BackupLocks.LockGroup(this, "possible running backup"); }
        catch (PbsException) { return; }
        using (groupLock)
        {
            if (!Exists || ListSnapshots(_ => { }).Any()) return;
            state?.Log($"removing empty backup group \"{FullPath}\"");
            RemoveEmptyLocked(groupLock);
        }
    }

    internal void RemoveEmptyLocked(PbsLock groupLock)
    {
        // Only the two objects, not the group's prefix: whatever else the bucket holds there is not ours to drop.
        if (Datastore.S3Mirror is { } s3)
        {
            s3.DeleteContent($"{RelativePath}/{NotesFileName}");
            s3.DeleteContent($"{RelativePath}/{OwnerFileName}");
        }
        try
        {
            TreeRemoval.UnlinkFile(NotesPath);
            TreeRemoval.UnlinkFile(OwnerPath);
            if (Libc.Rmdir(FullPath) != 0 && Libc.LastErrno != Libc.ENOENT)
                throw new IOException(Libc.StrError(Libc.LastErrno));
        }
        catch (IOException e)
        {
            throw new PbsException("RemoveFailed", PbsErrorKind.WriteError,
                $"removing group directory \"{FullPath}\" failed - {e.Message}", FullPath, e);
        }
        groupLock.UnlinkLockFiles();
    }

    /// <summary>
    /// Changes the owner as PBS does: the owner file rewritten in place (create + truncate, `authid\n`). PBS
    /// ≥ 3.3.5 takes the exclusive group lock for it, so it is taken whenever the 3.3.5 scheme is in use.
    /// On S3 the object is uploaded first.
    /// </summary>
    public void SetOwner(Authid owner)
    {
        Datastore.CheckOperation(DatastoreOperation.Write);
        if (owner.ToString().Length > Authid.MaxLength)
            throw new PbsException("InvalidAuthid", PbsErrorKind.InvalidArgument,
                $"auth id '{owner}' is longer than {Authid.MaxLength} characters", owner.ToString());
        RequireExists();
        using var _ = Datastore.Locking.LockFiles ? BackupLocks.LockGroup(this, "possible running backup") : null;
        Datastore.S3Mirror?.UploadContent($"{RelativePath}/{OwnerFileName}", OwnerFileBytes(owner));
        WriteOwnerFile(owner, Libc.O_CREAT | Libc.O_TRUNC);
    }

    /// <summary>
    /// Replaces the group notes atomically (0644), as PBS does; null removes the file. PBS ≥ 4.0.19 takes the
    /// exclusive group lock, so it is taken whenever the 3.3.5 scheme is in use. On S3 the object changes first.
    /// </summary>
    public void SetNotes(string? notes)
    {
        Datastore.CheckOperation(DatastoreOperation.Write);
        RequireExists();
        using var _ = Datastore.Locking.LockFiles ? BackupLocks.LockGroup(this, "possible running backup") : null;
        if (FileSystemEntries.KindOf(NotesPath) is EntryKind.Directory)
            throw new PbsException("WriteFailed", PbsErrorKind.WriteError, $"notes path \"{NotesPath}\" is a directory", NotesPath);
        if (Datastore.S3Mirror is { } s3)
        {
            var key = $"{RelativePath}/{NotesFileName}";
            if (notes == null) s3.DeleteContent(key);
            else s3.UploadContent(key, Encoding.UTF8.GetBytes(notes));
        }
        if (notes == null)
        {
            try { TreeRemoval.UnlinkFile(NotesPath); }
            catch (IOException e) { throw new PbsException("WriteFailed", PbsErrorKind.WriteError, e.Message, NotesPath, e); }
        }
        else AtomicFile.Replace(NotesPath, Encoding.UTF8.GetBytes(notes), AtomicFile.DefaultMode, BackupOwner.ForNewFiles());
    }

    /// <summary>
    /// Creates (if needed) and locks this group for writing a backup into it, as PBS's backup start does: type
    /// directory and group directory, exclusive group lock, owner file written if the group is new (exclusive
    /// create; on S3 the owner object before it), then the owner read back and checked (the group's owner must
    /// permit <paramref name="owner"/>).
    /// </summary>
    public LockedGroup CreateAndLock(Authid owner)
    {
        Datastore.CheckOperation(DatastoreOperation.Write);
        if (!Datastore.NamespaceExists(Namespace))
            throw new PbsException("NamespaceNotFound", PbsErrorKind.ObjectNotFound,
                $"namespace '{Namespace.Name}' does not exist in datastore '{Datastore.Name}'", Namespace.Name);
        CreateDirectory(Path.GetDirectoryName(FullPath)!);
        CreateDirectory(FullPath);
        var groupLock = BackupLocks.LockGroup(this, "another backup is already running");
        try
        {
            if (FileSystemEntries.KindOf(OwnerPath) == EntryKind.Missing)
            {
                // On S3 the owner object first, as PBS's set_owner does.
                Datastore.S3Mirror?.UploadContent($"{RelativePath}/{OwnerFileName}", OwnerFileBytes(owner));
                WriteOwnerFile(owner, Libc.O_CREAT | Libc.O_EXCL);
            }
            var actual = ReadOwner() ?? throw new PbsException("InvalidOwner", PbsErrorKind.InvalidData,
                $"group {this} has no owner file", OwnerPath);
            if (!actual.Permits(owner))
                throw new PbsException("OwnerCheckFailed", PbsErrorKind.PermissionDenied,
                    $"backup owner check failed ({owner} != {actual})", OwnerPath);
            return new LockedGroup(this, actual, groupLock);
        }
        catch
        {
            groupLock.Dispose();
            throw;
        }
    }

    private void WriteOwnerFile(Authid owner, int createFlags)
    {
        // O_NOFOLLOW: never write through a symlink planted as `owner`.
        var fd = Libc.Open(OwnerPath, Libc.O_WRONLY | Libc.O_CLOEXEC | Libc.O_NOFOLLOW | createFlags, 0x1B6);
        if (fd < 0)
            throw new PbsException("WriteFailed", PbsErrorKind.WriteError,
                $"unable to create owner file \"{OwnerPath}\" - {Libc.StrError(Libc.LastErrno)}", OwnerPath);
        try
        {
            var errno = Libc.WriteAll(fd, OwnerFileBytes(owner));
            if (errno != 0)
                throw new PbsException("WriteFailed", PbsErrorKind.WriteError,
                    $"unable to write owner file \"{OwnerPath}\" - {Libc.StrError(errno)}", OwnerPath);
            if (BackupOwner.ForNewFiles() is var (uid, gid)) Libc.Fchown(fd, uid, gid);
        }
        finally { Libc.Close(fd); }
    }

    private static byte[] OwnerFileBytes(Authid owner) => Encoding.UTF8.GetBytes(owner + "\n");

    /// <summary>mkdir (0777 &amp; ~umask) of one level, handed to backup:backup when root.</summary>
    internal static void CreateDirectory(string path)
    {
        if (FileSystemEntries.KindOf(path) == EntryKind.Directory) return;
        if (Libc.Mkdir(path, 0x1FF) != 0 && Libc.LastErrno != Libc.EEXIST)
            throw new PbsException("WriteFailed", PbsErrorKind.WriteError,
                $"unable to create directory \"{path}\" - {Libc.StrError(Libc.LastErrno)}", path);
        if (FileSystemEntries.KindOf(path) != EntryKind.Directory)
            throw new PbsException("WriteFailed", PbsErrorKind.WriteError, $"\"{path}\" exists and is not a directory", path);
        if (BackupOwner.ForNewFiles() is var (uid, gid)) Libc.Lchown(path, uid, gid);
    }

    private void RequireExists()
    {
        if (!Exists)
            throw new PbsException("GroupNotFound", PbsErrorKind.ObjectNotFound, $"backup group {this} does not exist", FullPath);
    }
}
