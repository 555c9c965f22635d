using System.Buffers.Binary;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Locking;

namespace PbsDatastore.Core.Tests.Hierarchy;

/// <summary>
/// datastore.cfg edits on the test run's private config root (TestEnvironment). Every test uses datastore names of
/// its own, so the sections other tests add do not matter; the class runs its tests one after the other.
/// </summary>
public class DatastoreConfigEditorTests
{
    private static string NewName() => "t" + Guid.NewGuid().ToString("n")[..10];

    private static string ConfigText() => File.ReadAllText(PbsPaths.DatastoreConfigFile);

    [Fact]
    public void Add_writes_a_section_as_PBS_does_sorted_keys_and_a_blank_line_between_sections()
    {
        var (a, b) = (NewName(), NewName());
        DatastoreConfigEditor.Add(a, new Dictionary<string, string> { ["path"] = $"/srv/{a}", ["comment"] = "first" });
        DatastoreConfigEditor.Add(b, new Dictionary<string, string> { ["path"] = $"/srv/{b}" });
        var text = ConfigText();
        Assert.Contains($"datastore: {a}\n\tcomment first\n\tpath /srv/{a}\n\ndatastore: {b}\n\tpath /srv/{b}\n", text);
        Assert.DoesNotContain("\n\n\n", text);
        Assert.False(text.EndsWith("\n\n", StringComparison.Ordinal));
        var entry = DatastoreConfig.Load().Get(a);
        Assert.Equal(($"/srv/{a}", "first"), (entry.Path, entry.Comment));
    }

    [Fact]
    public void The_file_is_replaced_with_mode_0640_and_no_temp_file_stays()
    {
        DatastoreConfigEditor.Add(NewName(), new Dictionary<string, string> { ["path"] = "/srv/mode" });
        Assert.Equal(0x1A0, (int)new FileInfo(PbsPaths.DatastoreConfigFile).UnixFileMode & 0x1FF);
        Assert.Empty(Directory.GetFiles(PbsPaths.ConfigRoot, "datastore.tmp_*"));
    }

    [Fact]
    public void Maintenance_mode_set_and_cleared_is_what_lookups_then_enforce()
    {
        var name = NewName();
        DatastoreConfigEditor.Add(name, new Dictionary<string, string> { ["path"] = $"/srv/{name}" });
        var entry = DatastoreConfigEditor.Update(name, new Dictionary<string, string?>
        {
            ["maintenance-mode"] = MaintenanceMode.Format("read-only", "disk swap, 50% done"),
        });
        Assert.Contains("\tmaintenance-mode type=read-only,message=disk%20swap%2C%2050%25%20done\n", ConfigText());
        Assert.Equal("read-only", entry.MaintenanceMode!.Type);
        Assert.Equal("disk swap, 50% done", entry.MaintenanceMode.Message);
        var e = Assert.Throws<PbsException>(() => entry.MaintenanceMode.Check(name, DatastoreOperation.Write));
        Assert.Equal("DatastoreInMaintenance", e.ErrorId);
        entry.MaintenanceMode.Check(name, DatastoreOperation.Read);

        entry = DatastoreConfigEditor.Update(name, new Dictionary<string, string?> { ["maintenance-mode"] = null });
        Assert.Null(entry.MaintenanceMode);
        Assert.DoesNotContain($"datastore: {name}\n\tmaintenance-mode", ConfigText());
    }

    [Fact]
    public void Only_read_only_and_offline_can_be_set()
    {
        Assert.Equal("InvalidMaintenanceMode", Assert.Throws<PbsException>(() => MaintenanceMode.Format("delete", null)).ErrorId);
        Assert.Equal("type=offline", MaintenanceMode.Format("offline", null));
    }

    [Fact]
    public void A_store_being_deleted_keeps_its_mode()
    {
        var name = NewName();
        DatastoreConfigEditor.Add(name, new Dictionary<string, string> { ["path"] = $"/srv/{name}", ["maintenance-mode"] = "type=delete" });
        var e = Assert.Throws<PbsException>(() => DatastoreConfigEditor.Update(name,
            new Dictionary<string, string?> { ["maintenance-mode"] = MaintenanceMode.Format("read-only", null) }));
        Assert.Equal("DatastoreBeingDeleted", e.ErrorId);
        Assert.Equal("delete", DatastoreConfig.Load().Get(name).MaintenanceMode!.Type);
    }

    [Fact]
    public void Bad_edits_are_refused_and_leave_the_file_as_it_was()
    {
        var name = NewName();
        DatastoreConfigEditor.Add(name, new Dictionary<string, string> { ["path"] = $"/srv/{name}" });
        var before = ConfigText();
        Assert.Equal("DatastoreExists", Assert.Throws<PbsException>(() =>
            DatastoreConfigEditor.Add(name, new Dictionary<string, string> { ["path"] = "/srv/other" })).ErrorId);
        Assert.Equal("InvalidDatastoreName", Assert.Throws<PbsException>(() =>
            DatastoreConfigEditor.Add("a/b", new Dictionary<string, string> { ["path"] = "/srv/x" })).ErrorId);
        Assert.Equal("InvalidDatastoreConfig", Assert.Throws<PbsException>(() =>
            DatastoreConfigEditor.Update(name, new Dictionary<string, string?> { ["path"] = null })).ErrorId);
        Assert.Equal("DatastoreConfigInvalid", Assert.Throws<PbsException>(() =>
            DatastoreConfigEditor.Update(name, new Dictionary<string, string?> { ["comment"] = "two\u0001lines" })).ErrorId);
        Assert.Equal("DatastoreConfigInvalid", Assert.Throws<PbsException>(() =>
            DatastoreConfigEditor.Update(name, new Dictionary<string, string?> { ["no-such-key"] = "1" })).ErrorId);
        Assert.Equal("DatastoreNotConfigured", Assert.Throws<PbsException>(() =>
            DatastoreConfigEditor.Update(NewName(), new Dictionary<string, string?> { ["comment"] = "x" })).ErrorId);
        Assert.Equal(before, ConfigText());
    }

    [Fact]
    public void A_held_config_lock_makes_the_edit_wait_then_fail_without_writing()
    {
        var name = NewName();
        DatastoreConfigEditor.Add(name, new Dictionary<string, string> { ["path"] = $"/srv/{name}" });
        var before = ConfigText();
        using (FileLocks.LockFile(DatastoreConfigEditor.LockPath, exclusive: true, TimeSpan.Zero, "datastore config lock"))
        {
            var e = Assert.Throws<PbsException>(() => DatastoreConfigEditor.Update(name,
                new Dictionary<string, string?> { ["comment"] = "late" }, TimeSpan.FromMilliseconds(200)));
            Assert.Equal("LockBusy", e.ErrorId);
        }
        Assert.Equal(before, ConfigText());
        DatastoreConfigEditor.Update(name, new Dictionary<string, string?> { ["comment"] = "late" });
        Assert.Equal("late", DatastoreConfig.Load().Get(name).Comment);
    }

    [Fact]
    public void Each_save_bumps_the_datastore_generation_in_config_versions_and_nothing_else()
    {
        var versions = DatastoreConfigEditor.ConfigVersionsPath;
        Directory.CreateDirectory(Path.GetDirectoryName(versions)!);
        var shm = new byte[4096];
        new byte[] { 0x19, 0xc6, 0xa8, 0xe6, 0x9a, 0x84, 0x8f, 0x83 }.CopyTo(shm, 0);
        for (var slot = 1; slot <= 4; slot++) BinaryPrimitives.WriteInt64LittleEndian(shm.AsSpan(8 * slot), 100 * slot);
        File.WriteAllBytes(versions, shm);
        try
        {
            var name = NewName();
            DatastoreConfigEditor.Add(name, new Dictionary<string, string> { ["path"] = $"/srv/{name}" });
            DatastoreConfigEditor.Update(name, new Dictionary<string, string?> { ["comment"] = "bumped" });
            var after = File.ReadAllBytes(versions);
            Assert.Equal(100, BinaryPrimitives.ReadInt64LittleEndian(after.AsSpan(8)));
            Assert.Equal(200, BinaryPrimitives.ReadInt64LittleEndian(after.AsSpan(16)));
            Assert.True(BinaryPrimitives.ReadInt64LittleEndian(after.AsSpan(24)) >= 302);
            Assert.Equal(400, BinaryPrimitives.ReadInt64LittleEndian(after.AsSpan(32)));
            Assert.Equal(shm[40..], after[40..]);
        }
        finally { File.Delete(versions); }
    }
}
