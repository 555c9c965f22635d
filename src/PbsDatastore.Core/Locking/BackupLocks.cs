using PbsDatastore.Core.Hierarchy;

namespace PbsDatastore.Core.Locking;

/// <summary>A set of held locks for one object (one per scheme in use), released in reverse order.</summary>
public sealed class PbsLock : IDisposable
{
    private readonly List<FlockHandle> _handles;

    internal PbsLock(string description, List<FlockHandle> handles)
    {
        Description = description;
        _handles = handles;
    }

    /// <summary>What is locked, e.g. `snapshot vm/100/2024-03-01T10:00:00Z`.</summary>
    public string Description { get; }

    public IReadOnlyList<FlockHandle> Handles => _handles;

    /// <summary>Unlinks every lock file of this set while still holding it (after the object was removed).</summary>
    public void UnlinkLockFiles()
    {
        foreach (var h in _handles) h.UnlinkWhileHeld();
    }

    public void Dispose()
    {
        for (var i = _handles.Count - 1; i >= 0; i--) _handles[i].Dispose();
    }

    public override string ToString() => Description;
}

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
            () => FileLocks.LockFile(LockPaths.GroupLockFile(group), exclusive: true, TimeSpan.Zero, "backup group lock"));
    }

    /// <summary>Snapshot lock, exclusive or shared, non-blocking. <paramref name="wouldBlock"/> as PBS words it.</summary>
    public static PbsLock LockSnapshot(BackupSnapshot snapshot, bool exclusive, string wouldBlock = "possibly running or in use")
    {
        var scheme = snapshot.Datastore.Locking;
        return Take($"snapshot {snapshot}", scheme,
            () => FileLocks.LockDirectory(snapshot.FullPath, exclusive, "snapshot", wouldBlock),
            () => FileLocks.LockFile(LockPaths.SnapshotLockFile(snapshot), exclusive, TimeSpan.Zero,
                exclusive ? "snapshot lock" : "shared snapshot lock"));
    }

    /// <summary>Exclusive manifest lock, waiting up to <paramref name="timeout"/> (default PBS's 5 s) per lock file.</summary>
    public static PbsLock LockManifest(BackupSnapshot snapshot, TimeSpan? timeout = null)
    {
        var scheme = snapshot.Datastore.Locking;
        var wait = timeout ?? ManifestLockTimeout;
        var legacy = scheme.DirectoryLocks && !(scheme.LockFiles && !scheme.OldLockingSentinel && HasCollidingNamespace(snapshot.Datastore));
        return Take($"manifest of snapshot {snapshot}", scheme with { DirectoryLocks = legacy },
            () => FileLocks.LockFile(LockPaths.LegacyManifestLock(snapshot), exclusive: true, wait, "manifest lock"),
            () => FileLocks.LockFile(LockPaths.ManifestLockFile(snapshot), exclusive: true, wait, "manifest lock"));
    }

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
