using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Hierarchy;

public class DatastoreConfigTests
{
    private const string Sample = """
        datastore: store1
        	comment Main store
        	gc-schedule daily
        	keep-daily 7
        	keep-last 3
        	maintenance-mode type=read-only,message=disk%20swap
        	path /mnt/datastore/store1
        	prune-schedule daily
        	tuning chunk-order=none,sync-level=file

        datastore: backup2
        	path /srv/backup2
        	maintenance-mode offline
        	notify gc=always,verify="never"


        datastore: usbdisk
        	backing-device 1234-abcd
        	path stores/usb
        """;

    [Fact]
    public void Parses_sections_properties_and_property_strings()
    {
        var cfg = DatastoreConfig.Parse(Sample);
        Assert.Equal(["store1", "backup2", "usbdisk"], cfg.Entries.Select(e => e.Name));
        var s1 = cfg.Get("store1");
        Assert.Equal("/mnt/datastore/store1", s1.Path);
        Assert.Equal("Main store", s1.Comment);
        Assert.Equal("7", s1.Properties["keep-daily"]);
        Assert.Equal("none", s1.Tuning["chunk-order"]);
        Assert.Equal("file", s1.Tuning["sync-level"]);
        Assert.Equal("read-only", s1.MaintenanceMode!.Type);
        Assert.Equal("disk swap", s1.MaintenanceMode.Message);
        Assert.Equal("offline", cfg.Get("backup2").MaintenanceMode!.Type);
        Assert.Equal("/mnt/datastore/usbdisk", cfg.Get("usbdisk").Path);
        Assert.Equal("backup2", cfg.FindByPath("/srv/backup2/")!.Name);
        Assert.Null(cfg.TryGet("nope"));
        Assert.Equal("DatastoreNotConfigured", Assert.Throws<PbsException>(() => cfg.Get("nope")).ErrorId);
    }

    [Fact]
    public void Maintenance_modes_refuse_like_pbs()
    {
        var cfg = DatastoreConfig.Parse(Sample);
        var ro = cfg.Get("store1").MaintenanceMode!;
        ro.Check("store1", DatastoreOperation.Read);
        var e = Assert.Throws<PbsException>(() => ro.Check("store1", DatastoreOperation.Write));
        Assert.Equal("DatastoreInMaintenance", e.ErrorId);
        Assert.Equal("datastore 'store1' is in read-only maintenance mode: disk swap", e.Message);
        var off = cfg.Get("backup2").MaintenanceMode!;
        off.Check("backup2", DatastoreOperation.Lookup);
        Assert.Throws<PbsException>(() => off.Check("backup2", DatastoreOperation.Read));
    }

    [Theory]
    [InlineData("datastore: st1\n\tpath\n", "expected section properties")]
    [InlineData("datastore: st1\n\tpath /a\n\tpath /b\n", "duplicate property 'path'")]
    [InlineData("datastore: st1\n\tcolour blue\n\tpath /a\n", "unknown property 'colour'")]
    [InlineData("datastore: st1\n\tcomment x\n", "missing property 'path'")]
    [InlineData("datastore: st1\npath /a\n", "expected section properties")]
    [InlineData("remote: s1\n\tpath /a\n", "unknown section type")]
    [InlineData("datastore: a/b\n\tpath /a\n", "invalid datastore name")]
    [InlineData("datastore: st1\n\tpath /a\n\ndatastore: st1\n\tpath /b\n", "duplicate section")]
    [InlineData("datastore: st1\n\tpath /a\n\tmaintenance-mode type=nap\n", "invalid maintenance-mode")]
    [InlineData("datastore: st1\n\tpath /a\n\ttuning chunk-order=\"none\n", "unterminated")]
    [InlineData("  datastore: st1\n", "expected header")]
    public void Malformed_config_is_a_clean_error(string text, string fragment)
    {
        var e = Assert.Throws<PbsException>(() => DatastoreConfig.Parse(text));
        Assert.Equal("DatastoreConfigInvalid", e.ErrorId);
        Assert.Equal(PbsErrorKind.InvalidData, e.Kind);
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void Loads_from_the_config_root_and_opens_by_name()
    {
        using var dir = new TempDir();
        var file = Path.Combine(dir.Path, "datastore.cfg");
        File.WriteAllText(file, $"datastore: store1\n\tpath {ReferenceStore.PristinePath}\n");
        var store = Datastore.OpenConfigured("store1", file);
        Assert.Equal("store1", store.Name);
        Assert.Equal(ReferenceStore.PristinePath, store.Path);
        Assert.NotNull(store.Config);
        Assert.Equal("DatastoreConfigNotFound", Assert.Throws<PbsException>(() => DatastoreConfig.Load(Path.Combine(dir.Path, "none.cfg"))).ErrorId);
        Assert.Equal("store1", Datastore.Open(ReferenceStore.PristinePath, config: DatastoreConfig.Load(file)).Name);
        File.WriteAllBytes(file, [0x64, 0xff, 0xfe]);
        Assert.Equal("DatastoreConfigUnreadable", Assert.Throws<PbsException>(() => DatastoreConfig.Load(file)).ErrorId);
    }

    [Fact]
    public void Mutated_configs_only_ever_give_clean_errors()
    {
        var rnd = new Random(7);
        var bytes = System.Text.Encoding.UTF8.GetBytes(Sample);
        for (var i = 0; i < 3000; i++)
        {
            var m = (byte[])bytes.Clone();
            for (var k = rnd.Next(1, 4); k > 0; k--) m[rnd.Next(m.Length)] = (byte)rnd.Next(256);
            var text = System.Text.Encoding.UTF8.GetString(m);
            try { DatastoreConfig.Parse(text); }
            catch (PbsException) { }
        }
    }

    [Fact]
    public void A_name_configured_for_another_directory_is_refused_a_symlink_to_the_same_is_not()
    {
        var root = Directory.CreateTempSubdirectory("pbs-open-").FullName;
        try
        {
            var (a, b) = (Path.Combine(root, "a"), Path.Combine(root, "b"));
            Directory.CreateDirectory(Path.Combine(a, ".chunks"));
            Directory.CreateDirectory(Path.Combine(b, ".chunks"));
            var link = Path.Combine(root, "link");
            File.CreateSymbolicLink(link, a);
            var config = DatastoreConfig.Parse($"datastore: store-a\n\tpath {a}\n\tmaintenance-mode read-only\n");

            var e = Assert.Throws<PbsException>(() => Datastore.Open(b, "store-a", config));
            Assert.Equal(("DatastorePathMismatch", PbsErrorKind.InvalidArgument), (e.ErrorId, e.Kind));
            Assert.Equal("store-a", Datastore.Open(link, "store-a", config).Config?.Name);
            Assert.Equal("store-a", Datastore.Open(a + "/", "store-a", config).Config?.Name);
            // Without a name, only the section with this path applies.
            Assert.Null(Datastore.Open(b, config: config).Config);
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }
}
