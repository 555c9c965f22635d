using PbsDatastore.Core.Locking;
using PbsDatastore.Core.Native;

namespace PbsDatastore.Core.Hierarchy;

/// <summary>
/// A group held under its exclusive lock for writing (what the ingest needs): create snapshots in it, lock a
/// base snapshot shared. Disposing releases the group lock; keep it for the whole backup.
/// </summary>
public sealed class LockedGroup : IDisposable
{
    private readonly PbsLock _lock;

    internal LockedGroup(BackupGroup group, Authid owner, PbsLock groupLock)
    {
        Group = group;
        Owner = owner;
        _lock = groupLock;
    }

    public BackupGroup Group { get; }

    /// <summary>The group's owner as read back after creation.</summary>
    public Authid Owner { get; }

    /// <summary>The held group lock (a move removes a group it created but could not fill while holding it).</summary>
    internal PbsLock Lock => _lock;

    /// <summary>Creates the new snapshot directory (it must not exist) and locks it exclusively.</summary>
    public LockedSnapshot CreateSnapshot(long backupTime)
    {
        var snapshot = Group.Snapshot(backupTime);
        var errno = Libc.Mkdir(snapshot.FullPath, 0x1FF) == 0 ? 0 : Libc.LastErrno;
        if (errno == Libc.EEXIST)
            throw new PbsException("SnapshotExists", PbsErrorKind.ResourceExists, "backup directory already exists.", snapshot.FullPath);
        if (errno != 0)
            throw new PbsException("WriteFailed", PbsErrorKind.WriteError,
                $"unable to create snapshot directory \"{snapshot.FullPath}\" - {Libc.StrError(errno)}", snapshot.FullPath);
        if (BackupOwner.ForNewFiles() is var (uid, gid)) Libc.Lchown(snapshot.FullPath, uid, gid);
        try
        {
            return new LockedSnapshot(snapshot,
                BackupLocks.LockSnapshot(snapshot, exclusive: true, "internal error - tried creating snapshot that's already in use"));
        }
        catch
        {
            Libc.Rmdir(snapshot.FullPath);
            throw;
        }
    }

    public void Dispose() => _lock.Dispose();
}
