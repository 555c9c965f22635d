using System.Text.Json.Nodes;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Hierarchy;

/// <summary>The hierarchy as PBS listed it from the reference store (expected JSON `store.namespaces/groups/snapshots`).</summary>
public class HierarchyTests
{
    private static readonly Datastore Store = Datastore.Open(ReferenceStore.PristinePath, "store1");
    private static JsonArray Expected(string key) => ReferenceStore.Expected["store"]![key]!.AsArray();

    [Fact]
    public void Lists_every_namespace_in_pre_order()
    {
        var listed = Store.ListNamespaces().ToList();
        var expected = Expected("namespaces");
        Assert.Equal(expected.Count, listed.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal((string)expected[i]!["ns"]!, listed[i].Name);
            Assert.Equal((string)expected[i]!["path"]!, listed[i].RelativePath);
            Assert.Equal(listed[i], BackupNamespace.FromPath(listed[i].RelativePath));
        }
    }

    [Fact]
    public void Namespace_depth_limits_listing()
    {
        Assert.Equal([""], Store.ListNamespaces(maxDepth: 0).Select(n => n.Name));
        Assert.Equal(["", "prod"], Store.ListNamespaces(maxDepth: 1).Select(n => n.Name));
        Assert.Equal(["prod", "prod/db"], Store.ListNamespaces(BackupNamespace.Parse("prod")).Select(n => n.Name));
        var e = Assert.Throws<PbsException>(() => Store.ListNamespaces(BackupNamespace.Parse("nope")).ToList());
        Assert.Equal("NamespaceNotFound", e.ErrorId);
    }

    [Fact]
    public void Lists_every_group_with_owner_and_notes()
    {
        var listed = Store.ListNamespaces().SelectMany(ns => Store.ListGroups(ns)).ToList();
        var expected = Expected("groups");
        Assert.Equal(expected.Count, listed.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            var e = expected[i]!;
            var g = listed[i];
            Assert.Equal((string)e["ns"]!, g.Namespace.Name);
            Assert.Equal((string)e["type"]!, g.Type.ToPbsString());
            Assert.Equal((string)e["id"]!, g.Id);
            Assert.Equal((string)e["path"]!, g.RelativePath);
            Assert.Equal(((string)e["owner_file"]!).TrimEnd(), g.ReadOwner()!.ToString());
            Assert.Equal((string?)e["notes_file"], g.ReadNotes());
            Assert.Equal((int)e["snapshot_count"]!, g.ListSnapshots().Count());
            Assert.True(g.Exists);
        }
    }

    [Fact]
    public void Lists_every_snapshot_with_files_and_state()
    {
        var listed = Store.ListNamespaces().SelectMany(ns => Store.ListGroups(ns)).SelectMany(g => g.ListSnapshots()).ToList();
        var expected = Expected("snapshots");
        Assert.Equal(expected.Count, listed.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            var e = expected[i]!;
            var s = listed[i];
            Assert.Equal((string)e["path"]!, s.RelativePath);
            Assert.Equal((string)e["ns"]!, s.Namespace.Name);
            Assert.Equal((string)e["type"]!, s.Type.ToPbsString());
            Assert.Equal((string)e["id"]!, s.Id);
            Assert.Equal((long)e["time"]!, s.Time);
            Assert.Equal((string)e["time_string"]!, s.TimeString);
            Assert.True(s.IsCanonicalName);
            Assert.Equal((bool)e["finished"]!, s.IsFinished);
            Assert.Equal((bool)e["protected"]!, s.IsProtected);
            Assert.Equal(e["backup_files_listed_by_pbs"]!.AsArray().Select(n => (string)n!), s.ListFiles());
            foreach (var f in e["files"]!.AsArray())
                Assert.Equal((long)f!["file_size"]!, new FileInfo(Path.Combine(s.FullPath, (string)f["name"]!)).Length);
        }
    }

    [Fact]
    public void Last_successful_backup_is_the_newest_finished_snapshot()
    {
        foreach (var g in Store.ListNamespaces().SelectMany(ns => Store.ListGroups(ns)))
        {
            var finished = Expected("snapshots")
                .Where(e => (string)e!["ns"]! == g.Namespace.Name && (string)e["type"]! == g.Type.ToPbsString() && (string)e["id"]! == g.Id && (bool)e["finished"]!)
                .Select(e => (long?)(long)e!["time"]!).Max();
            Assert.Equal(finished, g.LastSuccessfulBackup());
        }
    }

    [Fact]
    public void Group_order_is_pbs_order()
    {
        var ns = BackupNamespace.Root;
        var ids = new[] { "web", "10", "9", "a", "100", "_x" };
        var sorted = ids.Select(id => Store.Group(ns, BackupType.Vm, id)).Order().Select(g => g.Id);
        Assert.Equal(["9", "10", "100", "_x", "a", "web"], sorted);
        Assert.True(Store.Group(ns, BackupType.Ct, "z").CompareTo(Store.Group(ns, BackupType.Host, "1")) < 0);
    }

    [Fact]
    public void Open_rejects_what_is_not_a_datastore()
    {
        using var dir = new TempDir();
        Assert.Equal("NotADatastore", Assert.Throws<PbsException>(() => Datastore.Open(dir.Path)).ErrorId);
        Assert.Equal("DatastoreNotFound", Assert.Throws<PbsException>(() => Datastore.Open(Path.Combine(dir.Path, "x"))).ErrorId);
        Assert.Equal("InvalidDatastoreName", Assert.Throws<PbsException>(() => Datastore.Open(ReferenceStore.PristinePath, "a/b")).ErrorId);
        Assert.Equal("pbs-reference-store", Datastore.Open(ReferenceStore.PristinePath).Name);
    }

    [Fact]
    public void Strange_entries_are_skipped_or_reported()
    {
        using var copy = StoreCopy.WithoutChunks();
        var store = Datastore.Open(copy.StorePath, "store1");
        var group = Path.Combine(copy.StorePath, "vm", "100");
        Directory.CreateDirectory(Path.Combine(copy.StorePath, "vm", ".hidden"));            // not a backup id
        Directory.CreateDirectory(Path.Combine(copy.StorePath, "vm", "bad id"));
        File.WriteAllText(Path.Combine(copy.StorePath, "vm", "999"), "");                    // a file, not a group
        Directory.CreateSymbolicLink(Path.Combine(copy.StorePath, "vm", "555"), group);      // symlinks never followed
        Directory.CreateDirectory(Path.Combine(copy.StorePath, "ns", "bad name"));
        Directory.CreateDirectory(Path.Combine(group, "2021-02-31T00:00:00Z"));                // lenient: 2021-03-03
        Directory.CreateDirectory(Path.Combine(group, "not-a-time"));

        Assert.Equal(["100"], store.ListGroups().Where(g => g.Type == BackupType.Vm).Select(g => g.Id));
        var errors = new List<PbsException>();
        Assert.Equal(["", "prod", "prod/db"], store.ListNamespaces(onError: errors.Add).Select(n => n.Name));
        Assert.Single(errors);
        Assert.Throws<PbsException>(() => store.ListNamespaces().ToList());

        var strange = store.ListGroups().Single(g => g.GroupName == "vm/100").ListSnapshots().First();
        Assert.Equal("2021-02-31T00:00:00Z", strange.DirectoryName);
        Assert.Equal("2021-03-03T00:00:00Z", strange.TimeString);
        Assert.False(strange.IsCanonicalName);
        Assert.Equal("StrangeSnapshotName", Assert.Throws<PbsException>(strange.EnsureCanonicalName).ErrorId);
        Assert.False(strange.IsFinished);

        Directory.CreateDirectory(Path.Combine(group, "2021-13-01T00:00:00Z"));              // matches regex, fails parse
        var g100 = store.Group(BackupNamespace.Root, BackupType.Vm, "100");
        Assert.Equal("InvalidBackupTime", Assert.Throws<PbsException>(() => g100.ListSnapshots().ToList()).ErrorId);
        var reported = new List<PbsException>();
        Assert.Equal(4, g100.ListSnapshots(reported.Add).Count());
        Assert.Single(reported);
    }

    [Fact]
    public void Malformed_owner_is_a_clean_error_and_missing_owner_is_null()
    {
        using var copy = StoreCopy.WithoutChunks();
        var store = Datastore.Open(copy.StorePath, "store1");
        var g = store.Group(BackupNamespace.Root, BackupType.Vm, "100");
        File.WriteAllText(g.OwnerPath, "root@pam\nsecond line ignored\n");
        Assert.Equal("root@pam", g.ReadOwner()!.ToString());
        File.WriteAllText(g.OwnerPath, "no-realm\n");
        Assert.Equal("InvalidOwner", Assert.Throws<PbsException>(() => g.ReadOwner()).ErrorId);
        File.Delete(g.OwnerPath);
        Assert.Null(g.ReadOwner());
        File.CreateSymbolicLink(g.NotesPath + "2", "/etc/hostname");
        File.Delete(g.NotesPath);
        File.Move(g.NotesPath + "2", g.NotesPath);
        Assert.Equal("InvalidData", Assert.Throws<PbsException>(() => g.ReadNotes()).ErrorId);
    }
}
