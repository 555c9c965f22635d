using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Locking;

namespace PbsDatastore.Core.Tests.Locking;

/// <summary>Lock file names of PBS ≥ 3.3.5 (pbs-newer-versions §1.4 table and worked examples) and the 3.2.4 manifest path.</summary>
public class LockPathTests
{
    private static string Rel(string path) => Path.GetRelativePath(PbsPaths.LockRoot, path);

    [Theory]
    [InlineData("", "vm/100", @"store1/vm-100")]
    [InlineData("", "vm/100/2022-05-02T08:11:33Z", @"store1/vm-100-2022\x2d05\x2d02T08\x3a11\x3a33Z")]
    [InlineData("", "vm/100/2022-05-02T08:11:33Z/.index.json.lck", @"store1/vm-100-2022\x2d05\x2d02T08\x3a11\x3a33Z-.index.json.lck")]
    [InlineData("a/b", "ct/my-host/2025-01-31T23:59:59Z", @"store1/a:b/ct-my\x2dhost-2025\x2d01\x2d31T23\x3a59\x3a59Z")]
    [InlineData("a/b", "ct/my-host", @"store1/a:b/ct-my\x2dhost")]
    [InlineData("", "host/web.example.com/2025-01-31T23:59:59Z", @"store1/host-web.example.com-2025\x2d01\x2d31T23\x3a59\x3a59Z")]
    [InlineData("ns1/ns2/ns3/ns4/ns5/ns6/ns7", "vm/100/2022-05-02T08:11:33Z", @"store1/ns1:ns2:ns3:ns4:ns5:ns6:ns7/vm-100-2022\x2d05\x2d02T08\x3a11\x3a33Z")]
    public void Short_names_are_escaped(string ns, string relative, string expected)
        => Assert.Equal(expected, Rel(LockPaths.LockFile("store1", BackupNamespace.Parse(ns).Components, relative)));

    [Fact]
    public void Long_names_switch_to_hashed_at_255_escaped_bytes()
    {
        var tenant = BackupNamespace.Parse("tenant1").Components;
        var unhashed = LockPaths.LockFile("store1", tenant, "host/backup-of-" + new string('x', 200) + "/2025-01-31T23:59:59Z");
        Assert.Equal(@"store1/tenant1/host-backup\x2dof\x2d" + new string('x', 200) + @"-2025\x2d01\x2d31T23\x3a59\x3a59Z", Rel(unhashed));
        Assert.Equal(254, Path.GetFileName(unhashed).Length);

        var hashed = LockPaths.LockFile("store1", tenant, "host/backup-of-" + new string('x', 201) + "/2025-01-31T23:59:59Z");
        Assert.Equal(@"store1/tenant1/hashed/host-backup\x2dof\x2d" + new string('x', 59) + "..." + new string('x', 47)
            + @"-2025\x2d01\x2d31T23\x3a59\x3a59Z-30a9aa881d78e6b257400386319867bb5d1fd3e09b1bc5983d7f05fa77ceaa72", Rel(hashed));
    }

    [Fact]
    public void Group_snapshot_and_manifest_decide_hashing_independently()
    {
        using var dir = new Support.TempDir();
        Directory.CreateDirectory(Path.Combine(dir.Path, ".chunks"));
        var store = Datastore.Open(dir.Path, "store1", locking: LockScheme.For("3.4.1", false));
        var snap = store.Group(BackupNamespace.Root, BackupType.Host, new string('a', 202)).Snapshot("2025-01-31T23:59:59Z");
        Assert.Equal("store1/host-" + new string('a', 202) + @"-2025\x2d01\x2d31T23\x3a59\x3a59Z", Rel(BackupLocks.SnapshotLockFile(snap)));
        Assert.Equal("store1/hashed/host-" + new string('a', 75) + "..." + new string('a', 31)
            + @"-2025\x2d01\x2d31T23\x3a59\x3a59Z-.index.json.lck-af520845ec7406623c0b21e0417ba4833ac2a71d494e9b596b0942ec836eeaff",
            Rel(BackupLocks.ManifestLockFile(snap)));

        var id = string.Concat(Enumerable.Repeat("db-", 40)) + "x";
        var group = store.Group(BackupNamespace.Parse("prod"), BackupType.Vm, id);
        Assert.Equal("store1/prod/vm-" + string.Concat(Enumerable.Repeat(@"db\x2d", 40)) + "x", Rel(BackupLocks.GroupLockFile(group)));
        var snapLock = BackupLocks.SnapshotLockFile(group.Snapshot("2025-01-31T23:59:59Z"));
        Assert.Equal("store1/prod/hashed/vm-" + string.Concat(Enumerable.Repeat(@"db\x2d", 12)) + @"db\x2" + "..." + @"\x2d"
            + string.Concat(Enumerable.Repeat(@"db\x2d", 7)) + @"x-2025\x2d01\x2d31T23\x3a59\x3a59Z-e3c9ebefa97f269c03a49d63cfea72e8a6a525409934b2b51a298d0a83566776",
            Rel(snapLock));
        Assert.Equal(228, Path.GetFileName(snapLock).Length);
    }

    [Fact]
    public void Legacy_manifest_lock_has_the_extra_time_level()
    {
        using var dir = new Support.TempDir();
        Directory.CreateDirectory(Path.Combine(dir.Path, ".chunks"));
        var store = Datastore.Open(dir.Path, "store1", locking: LockScheme.For("3.2.4", false));
        var snap = store.Group(BackupNamespace.Parse("prod"), BackupType.Vm, "100").Snapshot("2024-06-05T10:00:00Z");
        Assert.Equal("store1/ns/prod/vm/100/2024-06-05T10:00:00Z/2024-06-05T10:00:00Z.index.json.lck", Rel(BackupLocks.LegacyManifestLock(snap)));
        var root = store.Group(BackupNamespace.Root, BackupType.Vm, "100").Snapshot("2024-06-05T10:00:00Z");
        Assert.Equal("store1/vm/100/2024-06-05T10:00:00Z/2024-06-05T10:00:00Z.index.json.lck", Rel(BackupLocks.LegacyManifestLock(root)));
    }

    [Theory]
    [InlineData(".test", @"\x2etest")]
    [InlineData("t.est", "t.est")]
    [InlineData("_test_", "_test_")]
    [InlineData("/", "-")]
    [InlineData("a//b", "a-b")]
    [InlineData("a:b-c ä", @"a\x3ab\x2dc\x20\xc3\xa4")]
    public void Escaping_is_systemd_path_escaping(string input, string expected)
        => Assert.Equal(expected, LockPaths.EscapeUnit(input));

    [Theory]
    [InlineData("3.2.4-1", false, true, false, GroupCleanup.RemoveGroupDirectory)]
    [InlineData("3.2.4-1", true, true, false, GroupCleanup.RemoveGroupDirectory)]   // sentinel alone decides nothing
    [InlineData("3.3.4-1", false, true, false, GroupCleanup.RemoveGroupDirectory)]
    [InlineData("3.3.5~rc1", false, true, false, GroupCleanup.RemoveGroupDirectory)]
    [InlineData("3.3.5-1", false, true, true, GroupCleanup.RemoveEmptyGroups)]
    [InlineData("3.4.1-1", true, true, true, GroupCleanup.KeepGroupDirectory)]
    [InlineData("4.2.3-1", false, true, true, GroupCleanup.RemoveEmptyGroups)]
    [InlineData(null, false, true, true, GroupCleanup.RemoveGroupDirectory)]
    [InlineData(null, true, true, true, GroupCleanup.KeepGroupDirectory)]
    public void Scheme_follows_the_version_first(string? version, bool sentinel, bool dirLocks, bool lockFiles, GroupCleanup cleanup)
    {
        var s = LockScheme.For(version, sentinel);
        Assert.Equal(dirLocks, s.DirectoryLocks);
        Assert.Equal(lockFiles, s.LockFiles);
        Assert.Equal(cleanup, s.Cleanup);
    }

    [Fact]
    public void Installed_version_is_read_from_dpkg_status()
    {
        using var dir = new Support.TempDir();
        var status = Path.Combine(dir.Path, "status");
        File.WriteAllText(status, "Package: proxmox-backup-client\nStatus: install ok installed\nVersion: 3.4.1-1\n\n"
            + "Package: proxmox-backup-server\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3.3.7-1\n");
        Assert.Equal("3.3.7-1", LockScheme.InstalledPbsVersion(status));
        File.WriteAllText(status, "Package: proxmox-backup-server\nStatus: deinstall ok config-files\nVersion: 3.3.7-1\n");
        Assert.Null(LockScheme.InstalledPbsVersion(status));
        Assert.Null(LockScheme.InstalledPbsVersion(Path.Combine(dir.Path, "none")));
    }
}
