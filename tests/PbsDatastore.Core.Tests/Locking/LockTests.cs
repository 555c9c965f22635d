using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Locking;
using PbsDatastore.Core.Native;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Locking;

/// <summary>Directory locks and lock files held by this process (separate descriptors) and by a second process.</summary>
public class LockTests
{
    private static readonly LockScheme Legacy = LockScheme.For("3.2.4", false);
    private static readonly LockScheme NewOnlyPaths = LockScheme.For("3.4.1", false);

    private static (TempDir Dir, BackupSnapshot Snapshot) Store(LockScheme scheme, string storeName)
    {
        var dir = StoreCopy.WithoutChunks();
        var store = Datastore.Open(dir.StorePath, storeName, locking: scheme);
        var snap = store.Group(BackupNamespace.Parse("prod"), BackupType.Vm, "101").Snapshot("2024-03-01T22:00:00Z");
        return (dir, snap);
    }

    private static string Unique() => "s" + Guid.NewGuid().ToString("n")[..12];

    [Fact]
    public void Directory_locks_conflict_between_descriptors_of_one_process()
    {
        var (dir, snap) = Store(Legacy, Unique());
        using var _ = dir;
        using (var first = BackupLocks.LockSnapshot(snap, exclusive: true))
        {
            var e = Assert.Throws<PbsException>(() => BackupLocks.LockSnapshot(snap, exclusive: true));
            Assert.Equal("LockBusy", e.ErrorId);
            Assert.Equal(PbsErrorKind.ResourceBusy, e.Kind);
            Assert.Contains($"unable to acquire lock on snapshot directory \"{snap.FullPath}\" - possibly running or in use", e.Message);
            Assert.Contains($"pid {Environment.ProcessId}", e.Message);
            Assert.Throws<PbsException>(() => BackupLocks.LockSnapshot(snap, exclusive: false));
        }
        using (BackupLocks.LockSnapshot(snap, exclusive: false))
        using (BackupLocks.LockSnapshot(snap, exclusive: false))
            Assert.Throws<PbsException>(() => BackupLocks.LockSnapshot(snap, exclusive: true));
        using (BackupLocks.LockGroup(snap.Group))
            Assert.Contains("possible running backup", Assert.Throws<PbsException>(() => BackupLocks.LockGroup(snap.Group)).Message);
        // 3.2 scheme creates no lock files for groups and snapshots.
        Assert.False(Directory.Exists(LockPaths.StoreLockDir(snap.Datastore.Name)));
    }

    [Fact]
    public void Directory_lock_held_by_another_process_is_busy_and_names_it()
    {
        var (dir, snap) = Store(Legacy, Unique());
        using var _ = dir;
        using (var child = new ChildLockHolder(snap.FullPath))
        {
            var e = Assert.Throws<PbsException>(() => BackupLocks.LockSnapshot(snap, exclusive: false));
            Assert.Equal("LockBusy", e.ErrorId);
            Assert.Contains($"held by pid {child.Pid} (flock)", e.Message);
        }
        using (new ChildLockHolder(snap.Group.FullPath))
            Assert.Equal("LockBusy", Assert.Throws<PbsException>(() => BackupLocks.LockGroup(snap.Group)).ErrorId);
        BackupLocks.LockSnapshot(snap, exclusive: true).Dispose();
        Assert.Equal("ObjectNotFound", Assert.Throws<PbsException>(() => BackupLocks.LockSnapshot(snap.Group.Snapshot(0), true)).ErrorId);
    }

    [Fact]
    public void Lock_files_are_created_like_pbs_and_conflict()
    {
        var (dir, snap) = Store(NewOnlyPaths, Unique());
        using var _ = dir;
        using (var l = BackupLocks.LockSnapshot(snap, exclusive: true))
        {
            Assert.Equal(2, l.Handles.Count);
            var file = BackupLocks.SnapshotLockFile(snap);
            Assert.Equal(file, l.Handles[1].Path);
            Assert.Equal(Libc.Statx.S_IFREG | 0x1B0, (int)(Stat(file).Mode));
            var e = Assert.Throws<PbsException>(() => FileLocks.LockFile(file, exclusive: false, TimeSpan.Zero, "shared snapshot lock"));
            Assert.Contains($"unable to acquire shared snapshot lock \"{file}\"", e.Message);
            Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(file)!, "*tmp_*"));
        }
        BackupLocks.LockGroup(snap.Group).Dispose();
        Assert.True(File.Exists(BackupLocks.GroupLockFile(snap.Group)));
    }

    [Fact]
    public void With_both_schemes_either_busy_lock_means_busy()
    {
        var (dir, snap) = Store(NewOnlyPaths, Unique());
        using var _ = dir;
        BackupLocks.LockSnapshot(snap, exclusive: true).Dispose(); // creates the lock file
        using (new ChildLockHolder(BackupLocks.SnapshotLockFile(snap)))
        {
            var e = Assert.Throws<PbsException>(() => BackupLocks.LockSnapshot(snap, exclusive: true));
            Assert.Contains("unable to acquire snapshot lock", e.Message);
            // The directory lock taken first was released again.
            FileLocks.LockDirectory(snap.FullPath, true, "snapshot", "x").Dispose();
        }
        using (new ChildLockHolder(snap.FullPath))
            Assert.Contains("snapshot directory", Assert.Throws<PbsException>(() => BackupLocks.LockSnapshot(snap, exclusive: true)).Message);
        using (new ChildLockHolder(BackupLocks.GroupLockFile(snap.Group)))
            Assert.Contains("unable to acquire backup group lock", Assert.Throws<PbsException>(() => BackupLocks.LockGroup(snap.Group)).Message);
    }

    [Fact]
    public async Task Manifest_lock_waits_then_fails_cleanly()
    {
        foreach (var scheme in new[] { Legacy, NewOnlyPaths })
        {
            var (dir, snap) = Store(scheme, Unique());
            using var _ = dir;
            using (var held = BackupLocks.LockManifest(snap))
            {
                Assert.Equal(scheme.LockFiles ? 2 : 1, held.Handles.Count);
                Assert.Equal(BackupLocks.LegacyManifestLock(snap), held.Handles[0].Path);
            }
            var path = scheme.LockFiles ? BackupLocks.ManifestLockFile(snap) : BackupLocks.LegacyManifestLock(snap);
            using (var child = new ChildLockHolder(path))
            {
                var e = Assert.Throws<PbsException>(() => BackupLocks.LockManifest(snap, TimeSpan.FromMilliseconds(300)));
                Assert.Equal("LockBusy", e.ErrorId);
                Assert.Contains($"unable to acquire manifest lock \"{path}\"", e.Message);
                Assert.Contains($"pid {child.Pid}", e.Message);
            }
            // Released while we wait: the waiter gets it.
            var holder = BackupLocks.LockManifest(snap);
            var waiter = Task.Run(() => BackupLocks.LockManifest(snap));
            Thread.Sleep(100);
            holder.Dispose();
            (await waiter).Dispose();
        }
    }

    [Fact]
    public async Task A_lock_on_an_unlinked_file_is_not_taken()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "locks", "x.lck");
        var holder = FileLocks.LockFile(path, true, TimeSpan.Zero, "test lock");
        var waiter = Task.Run(() => FileLocks.LockFile(path, true, TimeSpan.FromSeconds(10), "test lock"));
        Thread.Sleep(100);
        holder.UnlinkWhileHeld();
        holder.Dispose();
        using var got = await waiter;
        // The waiter ended up on the file that now exists at the path, not on the unlinked inode.
        var fd = Libc.Open(path, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        try
        {
            Assert.True(fd >= 0);
            Assert.NotEqual(0, Libc.FlockCall(fd, Libc.LOCK_EX | Libc.LOCK_NB));
        }
        finally { Libc.Close(fd); }
    }

    private static Libc.Statx Stat(string path)
    {
        Assert.Equal(0, Libc.TryLstat(path, out var st));
        return st;
    }
}
