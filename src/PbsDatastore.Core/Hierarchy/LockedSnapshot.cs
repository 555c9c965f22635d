using PbsDatastore.Core.Locking;

namespace PbsDatastore.Core.Hierarchy;

/// <summary>A new snapshot under its exclusive lock. <see cref="Abort"/> removes it (PBS's forced destroy of a failed backup).</summary>
public sealed class LockedSnapshot : IDisposable
{
    private readonly PbsLock _lock;

    internal LockedSnapshot(BackupSnapshot snapshot, PbsLock snapshotLock)
    {
        Snapshot = snapshot;
        _lock = snapshotLock;
    }

    public BackupSnapshot Snapshot { get; }

    /// <summary>Removes the unfinished snapshot while still holding its lock, then releases it.</summary>
    public void Abort(ITaskState? state = null)
    {
        try { Snapshot.RemoveLocked(state); }
        finally { Dispose(); }
    }

    public void Dispose() => _lock.Dispose();
}
