using System.Text;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Locking;
using PbsDatastore.Core.Native;

namespace PbsDatastore.Core.Backup;

/// <summary>
/// Where a backup writes, created and locked as PBS's backup start does (§6.4 steps 1 and 3): the group directory
/// (with its `owner` file when new) under an exclusive group lock, then the new snapshot directory, which must not
/// exist, under an exclusive snapshot lock.
/// </summary>
internal static class BackupTarget
{
    public static (BackupGroup Group, PbsLock Lock, Authid Owner) CreateLockedGroup(Datastore store, BackupNamespace ns,
        BackupType type, string id, Authid owner)
    {
        if (!store.NamespaceExists(ns))
            throw new PbsException("NamespaceNotFound", PbsErrorKind.ObjectNotFound, $"namespace '{ns.Name}' does not exist", ns.Name);
        var group = store.Group(ns, type, id);
        CreateDirectory(Path.GetDirectoryName(group.FullPath)!, parents: true);
        var created = CreateDirectory(group.FullPath, parents: false);
        var groupLock = BackupLocks.LockGroup(group, "another backup is already running");
        try
        {
            if (created)
                WriteOwner(group, owner);
            var actual = group.ReadOwner()
                ?? throw new PbsException("OwnerNotFound", PbsErrorKind.ObjectNotFound, $"group {group} has no owner file", group.OwnerPath);
            return (group, groupLock, actual);
        }
        catch
        {
            groupLock.Dispose();
            throw;
        }
    }

    public static (BackupSnapshot Snapshot, PbsLock Lock) CreateLockedSnapshot(BackupGroup group, long time)
    {
        var snapshot = group.Snapshot(time);
        if (!CreateDirectory(snapshot.FullPath, parents: false))
            throw new PbsException("SnapshotExists", PbsErrorKind.ResourceExists, $"backup directory already exists. ({snapshot})", snapshot.FullPath);
        try
        {
            return (snapshot, BackupLocks.LockSnapshot(snapshot, exclusive: true, "internal error - tried creating snapshot that's already in use"));
        }
        catch
        {
            // Nobody else can know this directory yet: it was created just now and the lock failed.
            Directory.Delete(snapshot.FullPath);
            throw;
        }
    }

    /// <summary>
    /// The `owner` file of a new group: exclusive create, `&lt;authid&gt;\n` (§1.8); on S3 the owner object is
    /// uploaded first, as PBS 4.2's set_owner does.
    /// </summary>
    private static void WriteOwner(BackupGroup group, Authid owner)
    {
        group.Datastore.S3Mirror?.UploadContent($"{group.RelativePath}/{BackupGroup.OwnerFileName}", Encoding.UTF8.GetBytes(owner + "\n"));
        try
        {
            using var file = new FileStream(group.OwnerPath, FileMode.CreateNew, FileAccess.Write, FileShare.None);
            file.Write(Encoding.UTF8.GetBytes(owner + "\n"));
        }
        catch (IOException e)
        {
            throw new PbsException("OwnerCreateFailed", PbsErrorKind.WriteError,
                $"unable to create owner file \"{group.OwnerPath}\" - {e.Message}", group.OwnerPath, e);
        }
        Chown(group.OwnerPath);
    }

    /// <summary>Creates <paramref name="path"/>; true when it was created, false when it already existed.</summary>
    private static bool CreateDirectory(string path, bool parents)
    {
        if (Directory.Exists(path))
            return false;
        try
        {
            if (parents)
                Directory.CreateDirectory(path);
            else if (Libc.Mkdir(path, 0x1ED /* 0755 */) != 0)
            {
                var errno = Libc.LastErrno;
                if (errno == Libc.EEXIST) return false;
                throw new IOException(Libc.StrError(errno));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PbsException("CreateDirectoryFailed", PbsErrorKind.WriteError, $"unable to create directory \"{path}\" - {e.Message}", path, e);
        }
        Chown(path);
        return true;
    }

    /// <summary>Run as root, what a backup creates belongs to backup:backup as in PBS (§1.12).</summary>
    private static void Chown(string path)
    {
        if (BackupOwner.ForNewFiles() is var (uid, gid) && Libc.Chown(path, uid, gid) != 0)
            throw new PbsException("ChownFailed", PbsErrorKind.PermissionDenied,
                $"unable to set owner of \"{path}\" - {Libc.StrError(Libc.LastErrno)}", path);
    }
}
