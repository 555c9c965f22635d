using PbsDatastore.Core.Locking;

namespace PbsDatastore.Core.Hierarchy;

/// <summary>
/// Group, snapshot and manifest locks as PBS takes them, in the scheme(s) of the store's <see cref="LockScheme"/>:
/// 3.2 scheme = non-blocking flock on the group/snapshot directory and the manifest lock file under its old
/// path; 3.3.5+ scheme = lock files under the lock root. With both, the directory (old) lock is taken first; a
/// busy result from either means busy. Lock order as PBS: group → snapshot → manifest.
/// </summary>
public static class BackupLocks
{
    /// <summary>PBS waits at most 5 s for a manifest lock.</summary>
    public static readonly TimeSpan ManifestLockTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Namespace names whose 3.3.5+ lock directory collides with the old manifest-lock tree.</summary>
    private static readonly string[] CollidingNamespaceNames = ["vm", "ct", "host", "ns"];

    /// <summary>Exclusive group lock. <paramref name="wouldBlock"/> is PBS's text for the caller (§6.2).</summary>
    public static PbsLock LockGroup(BackupGroup group, string wouldBlock = "possible running backup")
    {
        var scheme = group.Datastore.Locking;
        return Take($"backup group {group}", scheme,
            () => FileLocks.LockDirectory(group.FullPath, exclusive: true, "backup group", wouldBlock),
            () => FileLocks.LockFile(GroupLockFile(group), exclusive: true, TimeSpan.Zero, "backup group lock"));
    }

    /// <summary>Snapshot lock, exclusive or shared, non-blocking. <paramref name="wouldBlock"/> as PBS words it.</summary>
    public static PbsLock LockSnapshot(BackupSnapshot snapshot, bool exclusive, string wouldBlock = "possibly running or in use")
    {
        var scheme = snapshot.Datastore.Locking;
        return Take($"snapshot {snapshot}", scheme,
            () => FileLocks.LockDirectory(snapshot.FullPath, exclusive, "snapshot", wouldBlock),
            () => FileLocks.LockFile(SnapshotLockFile(snapshot), exclusive, TimeSpan.Zero,
                exclusive ? "snapshot lock" : "shared snapshot lock"));
    }

    /// <summary>Exclusive manifest lock, waiting up to <paramref name="timeout"/> (default PBS's 5 s) per lock file.</summary>
    public static PbsLock LockManifest(BackupSnapshot snapshot, TimeSpan? timeout = null)
    {
        var scheme = snapshot.Datastore.Locking;
        var wait = timeout ?? ManifestLockTimeout;
        var legacy = scheme.DirectoryLocks && !(scheme.LockFiles && !scheme.OldLockingSentinel && HasCollidingNamespace(snapshot.Datastore));
        return Take($"manifest of snapshot {snapshot}", scheme with { DirectoryLocks = legacy },
            () => FileLocks.LockFile(LegacyManifestLock(snapshot), exclusive: true, wait, "manifest lock"),
            () => FileLocks.LockFile(ManifestLockFile(snapshot), exclusive: true, wait, "manifest lock"));
    }

    /// <summary>3.2.4 manifest lock path (also used by PBS ≥ 3.3.5 in old-locking mode).</summary>
    public static string LegacyManifestLock(BackupSnapshot s)
        => Path.Combine(LockPaths.StoreLockDir(s.Datastore.Name), s.RelativePath, s.DirectoryName + LockPaths.ManifestLockName);

    /// <summary>3.3.5+ group lock file (R = `type/id`).</summary>
    public static string GroupLockFile(BackupGroup g) => LockPaths.LockFile(g.Datastore.Name, g.Namespace.Components, g.GroupName);

    /// <summary>3.3.5+ snapshot lock file (R = `type/id/time`).</summary>
    public static string SnapshotLockFile(BackupSnapshot s) => LockPaths.LockFile(s.Datastore.Name, s.Namespace.Components, s.SnapshotName);

    /// <summary>3.3.5+ manifest lock file (R = `type/id/time/.index.json.lck`).</summary>
    public static string ManifestLockFile(BackupSnapshot s)
        => LockPaths.LockFile(s.Datastore.Name, s.Namespace.Components, s.SnapshotName + "/" + LockPaths.ManifestLockName);

    /// <summary>
    /// True when a top-level namespace is named like a backup type or `ns`: its 3.3.5+ lock directory would
    /// collide with the old manifest-lock tree (addendum §1.2/§1.4), so the old path is skipped in new mode.
    /// </summary>
    private static bool HasCollidingNamespace(Datastore store)
        => CollidingNamespaceNames.Any(n => Directory.Exists(Path.Combine(store.Path, "ns", n)));

    private static PbsLock Take(string description, LockScheme scheme, Func<FlockHandle> old, Func<FlockHandle> lockFile)
    {
        var handles = new List<FlockHandle>(2);
        try
        {
            if (scheme.DirectoryLocks) handles.Add(old());
            if (scheme.LockFiles) handles.Add(lockFile());
        }
        catch
        {
            foreach (var h in handles) h.Dispose();
            throw;
        }
        return new PbsLock(description, handles);
    }
}
