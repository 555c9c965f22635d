using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Locking;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Hierarchy;

/// <summary>Removal, owner, notes, protection and manifest updates on copies of the reference store, in each lock scheme.</summary>
public class LifecycleTests
{
    public static readonly TheoryData<string> Versions = new() { "3.2.4", "3.4.1-sentinel", "3.4.1", "none" };

    private static (TempDir Dir, Datastore Store) Open(string version)
    {
        var dir = StoreCopy.WithoutChunks();
        var scheme = version switch
        {
            "3.4.1-sentinel" => LockScheme.For("3.4.1", true),
            "none" => LockScheme.For(null, false),
            _ => LockScheme.For(version, false),
        };
        return (dir, Datastore.Open(dir.StorePath, "s" + Guid.NewGuid().ToString("n")[..10], locking: scheme));
    }

    private static BackupGroup Group(Datastore s, string ns, BackupType t, string id) => s.Group(BackupNamespace.Parse(ns), t, id);

    [Theory, MemberData(nameof(Versions))]
    public void Snapshot_destroy_removes_directory_and_lock_files(string version)
    {
        var (dir, store) = Open(version);
        using var _ = dir;
        var group = Group(store, "prod", BackupType.Vm, "101");
        var snaps = group.ListSnapshots().ToList();
        var target = snaps[0];
        target.SetNotes("bye");                                        // creates manifest lock files
        target.Destroy();
        Assert.False(Directory.Exists(target.FullPath));
        Assert.False(File.Exists(BackupLocks.ManifestLockFile(target)));
        Assert.False(File.Exists(BackupLocks.LegacyManifestLock(target)));
        Assert.False(File.Exists(BackupLocks.SnapshotLockFile(target)));
        Assert.Equal([snaps[1].DirectoryName], group.ListSnapshots().Select(s => s.DirectoryName));

        snaps[1].Destroy();
        // Only PBS ≥ 3.3.5 in new mode removes a group left without snapshots.
        Assert.Equal(store.Locking.Cleanup == GroupCleanup.RemoveEmptyGroups, !group.Exists);
        Assert.Equal("SnapshotNotFound", Assert.Throws<PbsException>(() => snaps[1].Destroy()).ErrorId);
    }

    [Fact]
    public void Protected_snapshot_is_refused_even_forced()
    {
        var (dir, store) = Open("3.2.4");
        using var _ = dir;
        var p = Group(store, "", BackupType.Ct, "200").ListSnapshots().Single(s => s.IsProtected);
        Assert.Equal("SnapshotProtected", Assert.Throws<PbsException>(() => p.Destroy()).ErrorId);
        Assert.Equal("SnapshotProtected", Assert.Throws<PbsException>(() => p.Destroy(force: true)).ErrorId);
        Assert.True(p.IsFinished);
        p.SetProtected(false);
        Assert.False(p.IsProtected);
        p.SetProtected(true);
        Assert.True(p.IsProtected);
        Assert.Equal(0, new FileInfo(p.ProtectedPath).Length);
    }

    [Theory, MemberData(nameof(Versions))]
    public void Group_destroy_keeps_protected_snapshots_and_the_group(string version)
    {
        var (dir, store) = Open(version);
        using var _ = dir;
        var ct = Group(store, "", BackupType.Ct, "200");
        var r = ct.Destroy();
        Assert.Equal((2, 1, false), (r.RemovedSnapshots, r.ProtectedSnapshots, r.GroupRemoved));
        Assert.True(File.Exists(ct.OwnerPath));
        Assert.Single(ct.ListSnapshots());

        var vm = Group(store, "", BackupType.Vm, "100");
        r = vm.Destroy();
        Assert.Equal((3, 0), (r.RemovedSnapshots, r.ProtectedSnapshots));
        var keep = store.Locking.Cleanup == GroupCleanup.KeepGroupDirectory;
        Assert.Equal(keep, vm.Exists);
        Assert.Equal(keep, File.Exists(vm.OwnerPath));
        Assert.Equal(keep, File.Exists(vm.NotesPath));
        Assert.Equal(keep && store.Locking.LockFiles, File.Exists(BackupLocks.GroupLockFile(vm)));
    }

    [Fact]
    public void Busy_locks_stop_removal_and_remove_nothing()
    {
        var (dir, store) = Open("3.4.1");
        using var _ = dir;
        var g = Group(store, "prod", BackupType.Host, "web01");
        var snaps = g.ListSnapshots().ToList();
        using (new ChildLockHolder(snaps[1].FullPath, exclusive: false))
        {
            Assert.Equal("LockBusy", Assert.Throws<PbsException>(() => snaps[1].Destroy()).ErrorId);
            Assert.True(snaps[1].IsFinished);
        }
        using (new ChildLockHolder(g.FullPath))
        {
            Assert.Equal("LockBusy", Assert.Throws<PbsException>(() => g.Destroy()).ErrorId);
            Assert.Equal(2, g.ListSnapshots().Count());
        }
        BackupLocks.LockSnapshot(snaps[0], true).Dispose();
        using (new ChildLockHolder(BackupLocks.SnapshotLockFile(snaps[0])))
            Assert.Equal("LockBusy", Assert.Throws<PbsException>(() => g.Destroy()).ErrorId);
        Assert.Equal(2, g.ListSnapshots().Count());
    }

    [Fact]
    public void Removal_deletes_planted_symlinks_never_their_targets()
    {
        var (dir, store) = Open("3.2.4");
        using var _ = dir;
        using var outside = new TempDir();
        var victim = Path.Combine(outside.Path, "victim");
        Directory.CreateDirectory(victim);
        File.WriteAllText(Path.Combine(victim, "keep.txt"), "x");
        var g = Group(store, "prod", BackupType.Vm, "101");
        var s = g.ListSnapshots().First();
        Directory.CreateSymbolicLink(Path.Combine(s.FullPath, "link-dir"), victim);
        File.CreateSymbolicLink(Path.Combine(s.FullPath, "link-file.blob"), Path.Combine(victim, "keep.txt"));
        Directory.CreateSymbolicLink(Path.Combine(g.FullPath, "group-link"), victim);
        Assert.DoesNotContain("link-file.blob", s.ListFiles());
        g.Destroy();
        Assert.False(g.Exists);
        Assert.True(File.Exists(Path.Combine(victim, "keep.txt")));
    }

    [Theory]
    [InlineData("3.2.4")]
    [InlineData("3.4.1")]
    public void Namespaces_are_created_and_removed_like_pbs(string version)
    {
        var (dir, store) = Open(version);
        using var _ = dir;
        var archive = store.CreateNamespace(BackupNamespace.Parse("prod/db/archive"));
        Assert.Contains(archive, store.ListNamespaces());
        Assert.Equal("NamespaceExists", Assert.Throws<PbsException>(() => store.CreateNamespace(archive)).ErrorId);
        Assert.Equal("NamespaceNotFound", Assert.Throws<PbsException>(() => store.CreateNamespace(BackupNamespace.Parse("x/y"))).ErrorId);
        Assert.Equal("RootNamespace", Assert.Throws<PbsException>(() => store.CreateNamespace(BackupNamespace.Root)).ErrorId);
        Assert.Equal("InvalidNamespace", Assert.Throws<PbsException>(() => store.CreateNamespace(BackupNamespace.Parse(new string('a', 33)))).ErrorId);

        var prod = BackupNamespace.Parse("prod");
        var r = store.RemoveNamespace(prod, deleteGroups: false);              // groups exist: nothing but the empty child goes
        Assert.False(r.Complete);
        Assert.False(store.NamespaceExists(archive));
        Assert.True(store.NamespaceExists(prod));

        r = store.RemoveNamespaceGroups(BackupNamespace.Parse("prod/db"));
        Assert.Equal(3, r.Groups.Sum(g => g.RemovedSnapshots));
        Assert.Empty(store.ListGroups(BackupNamespace.Parse("prod/db")));
        Assert.True(store.NamespaceExists(BackupNamespace.Parse("prod/db")));

        r = store.RemoveNamespace(prod, deleteGroups: true);
        Assert.True(r.Complete);
        Assert.False(store.NamespaceExists(prod));
        Assert.Equal([""], store.ListNamespaces().Select(n => n.Name));
        Assert.Equal("RootNamespace", Assert.Throws<PbsException>(() => store.RemoveNamespace(BackupNamespace.Root, true)).ErrorId);
    }

    [Theory]
    [InlineData("3.2.4")]
    [InlineData("3.4.1")]
    public void Owner_and_group_notes_are_written_as_pbs_writes_them(string version)
    {
        var (dir, store) = Open(version);
        using var _ = dir;
        var g = Group(store, "", BackupType.Vm, "100");
        g.SetOwner(Authid.Parse("backup@pbs!token1"));
        Assert.Equal("backup@pbs!token1\n", File.ReadAllText(g.OwnerPath));
        Assert.Equal("backup@pbs!token1", g.ReadOwner()!.ToString());
        Assert.Equal("InvalidAuthid", Assert.Throws<PbsException>(() => g.SetOwner(Authid.Parse("a@pbs!" + new string('t', 64)))).ErrorId);

        g.SetNotes("line one\nline two");
        Assert.Equal("line one\nline two", File.ReadAllText(g.NotesPath));
        Assert.Empty(Directory.GetFiles(g.FullPath, "*tmp_*"));
        g.SetNotes(null);
        Assert.Null(g.ReadNotes());
        if (!store.Locking.LockFiles) return;
        BackupLocks.LockGroup(g).Dispose();
        using (new ChildLockHolder(BackupLocks.GroupLockFile(g)))
            Assert.Equal("LockBusy", Assert.Throws<PbsException>(() => g.SetOwner(Authid.RootPam)).ErrorId);
    }

    [Fact]
    public void Manifest_updates_keep_pbs_bytes_and_signed_parts()
    {
        var (dir, store) = Open("3.4.1");
        using var _ = dir;
        var expected = ReferenceStore.Expected["store"]!["snapshots"]!.AsArray();
        var crypt = KeyConfig.Load(ReferenceStore.KeyFile).Decrypt();
        foreach (var s in store.ListNamespaces().SelectMany(n => store.ListGroups(n)).SelectMany(g => g.ListSnapshots()).Where(s => s.IsFinished))
        {
            var e = expected.Single(x => (string)x!["path"]! == s.RelativePath)!;
            // A no-op update rewrites PBS's exact text.
            var written = s.UpdateManifest(_ => { });
            Assert.Equal((string)e["manifest_text"]!, written.ToJson());
            var m = s.SetNotes("new notes\nline 2");
            Assert.Equal("new notes\nline 2", s.LoadManifest().Notes);
            if (m.Signature != null)
            {
                s.LoadManifest().CheckSignature(crypt);
                var ex = Assert.Throws<PbsException>(() => s.UpdateManifest(x => x.AddFile(new ManifestFile("extra.blob", CryptMode.None, 1, new string('0', 64)))));
                Assert.Equal("SignedManifestChange", ex.ErrorId);
                Assert.Null(s.LoadManifest().FindFile("extra.blob"));
            }
        }
    }

    [Fact]
    public void Unlisted_files_are_found_and_removed()
    {
        var (dir, store) = Open("3.2.4");
        using var _ = dir;
        var s = Group(store, "", BackupType.Vm, "100").ListSnapshots().First();
        File.WriteAllText(Path.Combine(s.FullPath, "drive-scsi1.img.tmp_fidx"), "");
        File.WriteAllText(Path.Combine(s.FullPath, "index.json.tmp_Ab12Cd"), "");
        Directory.CreateDirectory(Path.Combine(s.FullPath, "subdir"));
        Assert.Equal(["drive-scsi1.img.tmp_fidx", "index.json.tmp_Ab12Cd"], s.FindUnlistedFiles());
        Assert.Equal(2, s.RemoveUnlistedFiles().Count);
        Assert.Empty(s.FindUnlistedFiles());
        Assert.Equal(["client.log.blob", "drive-scsi0.img.fidx", "index.json.blob", "qemu-server.conf.blob"], s.ListFiles());
        var unfinished = Group(store, "prod/db", BackupType.Vm, "400").ListSnapshots().Single();
        Assert.Equal("ManifestNotFound", Assert.Throws<PbsException>(() => unfinished.FindUnlistedFiles()).ErrorId);
    }

    [Theory]
    [InlineData("3.2.4")]
    [InlineData("3.4.1")]
    public void Locked_creation_of_groups_and_snapshots(string version)
    {
        var (dir, store) = Open(version);
        using var _ = dir;
        var g = Group(store, "prod", BackupType.Host, "newhost");
        using (var locked = g.CreateAndLock(Authid.Parse("backup@pbs!token1")))
        {
            Assert.Equal("backup@pbs!token1\n", File.ReadAllText(g.OwnerPath));
            Assert.Equal("LockBusy", Assert.Throws<PbsException>(() => g.CreateAndLock(Authid.Parse("backup@pbs!token1"))).ErrorId);
            using var snap = locked.CreateSnapshot(1709280000);
            Assert.True(snap.Snapshot.Exists);
            Assert.Equal("SnapshotExists", Assert.Throws<PbsException>(() => locked.CreateSnapshot(1709280000)).ErrorId);
            Assert.Equal("LockBusy", Assert.Throws<PbsException>(() => snap.Snapshot.Destroy()).ErrorId);
            var failed = locked.CreateSnapshot(1709290000);
            failed.Abort();
            Assert.False(failed.Snapshot.Exists);
        }
        // The owning user may write into its token's group; another user may not.
        g.CreateAndLock(Authid.Parse("backup@pbs")).Dispose();
        Assert.Equal("OwnerCheckFailed", Assert.Throws<PbsException>(() => g.CreateAndLock(Authid.RootPam)).ErrorId);
        Assert.Equal("NamespaceNotFound", Assert.Throws<PbsException>(() => Group(store, "nope", BackupType.Vm, "1").CreateAndLock(Authid.RootPam)).ErrorId);
    }

    [Fact]
    public void Maintenance_mode_refuses_writes()
    {
        using var dir = StoreCopy.WithoutChunks();
        var cfg = DatastoreConfig.Parse($"datastore: store1\n\tpath {dir.StorePath}\n\tmaintenance-mode read-only\n");
        var store = Datastore.Open(dir.StorePath, "store1", cfg, LockScheme.For("3.2.4", false));
        var g = store.Group(BackupNamespace.Root, BackupType.Vm, "100");
        Assert.Equal("DatastoreInMaintenance", Assert.Throws<PbsException>(() => g.Destroy()).ErrorId);
        Assert.Equal("DatastoreInMaintenance", Assert.Throws<PbsException>(() => g.ListSnapshots().First().SetNotes("x")).ErrorId);
        Assert.Equal(3, g.ListSnapshots().Count());
    }
}
