using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.S3;
using PbsDatastore.Core.Store;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.S3;

/// <summary>
/// Changes to an S3 store reach the bucket (addendum §4.7): after each removal or edit the `.cnt/` objects are
/// exactly what the local cache holds, and prefix deletes never reach a sibling whose name merely starts alike.
/// </summary>
[Collection(S3ServerCollection.Name)]
public partial class S3WriteTests(S3TestServer server)
{
    private sealed class S3Store : IDisposable
    {
        public required TempDir Copy { get; init; }
        public required string Name { get; init; }
        public required Datastore Datastore { get; init; }
        public required S3Client Client { get; init; }
        public S3Keys Keys => new(Name);

        public void Dispose()
        {
            Datastore.Dispose();
            Client.Dispose();
            Copy.Dispose();
        }
    }

    /// <summary>
    /// The reference store plus `vm/1000` (a copy of `vm/100`, so that a prefix without `/` would catch it) and
    /// namespace `prod2` beside `prod`, uploaded in PBS 4.2's layout.
    /// </summary>
    private S3Store Prepare()
    {
        var copy = ReferenceStore.FreshCopy();
        var name = "wr" + Guid.NewGuid().ToString("N")[..12];
        CopyDirectory(Path.Combine(copy.StorePath, "vm/100"), Path.Combine(copy.StorePath, "vm/1000"));
        Directory.CreateDirectory(Path.Combine(copy.StorePath, "ns/prod2/vm/100"));
        File.WriteAllText(Path.Combine(copy.StorePath, "ns/prod2/vm/100/owner"), "root@pam\n");
        var client = server.Client();
        S3ReferenceStore.Upload(copy.StorePath, client, name, evict: _ => true);
        var store = Datastore.Open(copy.StorePath, name, S3TestServer.DatastoreConfig(name, copy.StorePath));
        var s = new S3Store { Copy = copy, Name = name, Datastore = store, Client = client };
        AssertBucketMirrorsCache(s);
        return s;
    }

    /// <summary>The same store opened again with a client whose requests pass <paramref name="faults"/> (2 attempts each).</summary>
    private Datastore WithFaults(S3Store s, Func<HttpMessageHandler, FaultInjectingHandler> faults, out FaultInjectingHandler handler)
    {
        var endpoint = server.Endpoint();
        handler = faults(S3Client.CreateTransport(endpoint));
        var backend = new S3Backend(FilesystemBackend.Open(s.Name, s.Copy.StorePath),
            server.Client(endpoint: endpoint, transport: handler, options: S3TestServer.FastRetries with { MaxAttempts = 2 }));
        var store = Datastore.Open(s.Copy.StorePath, s.Name, S3TestServer.DatastoreConfig(s.Name, s.Copy.StorePath));
        store.WrapBackend(_ => backend);
        return store;
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.EnumerateFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        foreach (var d in Directory.EnumerateDirectories(from)) CopyDirectory(d, Path.Combine(to, Path.GetFileName(d)));
    }

    /// <summary>
    /// The `.cnt/` keys the local cache stands for: namespace markers, group owner and notes, the files of
    /// finished snapshots (lock files and temp files stay local, as in PBS).
    /// </summary>
    private static SortedSet<string> CacheKeys(S3Store s)
    {
        var keys = new SortedSet<string>(StringComparer.Ordinal);
        var root = s.Copy.StorePath;
        foreach (var ns in s.Datastore.ListNamespaces())
        {
            if (!ns.IsRoot) keys.Add(s.Keys.Content($"{ns.RelativePath}/{S3Keys.NamespaceMarkerName}"));
            foreach (var g in s.Datastore.ListGroups(ns))
            {
                foreach (var f in new[] { BackupGroup.OwnerFileName, BackupGroup.NotesFileName })
                    if (File.Exists(Path.Combine(g.FullPath, f))) keys.Add(s.Keys.Content($"{g.RelativePath}/{f}"));
                foreach (var snap in g.ListSnapshots().Where(x => x.IsFinished))
                    foreach (var f in Directory.EnumerateFiles(snap.FullPath).Select(Path.GetFileName))
                        if (!f!.StartsWith('.') || f == BackupSnapshot.ProtectedFileName)
                            keys.Add(s.Keys.Content($"{snap.RelativePath}/{f}"));
            }
        }
        Assert.True(Directory.Exists(root));
        return keys;
    }

    private static void AssertBucketMirrorsCache(S3Store s)
    {
        var bucket = s.Client.ListObjects(s.Keys.ContentPrefix).Select(o => o.Key).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(CacheKeys(s).ToList(), bucket);
    }

    [Fact]
    public void Removing_a_group_deletes_its_objects_and_never_those_of_a_group_whose_id_starts_alike()
    {
        using var s = Prepare();
        var vm1000 = s.Client.ListObjects(s.Keys.ContentDirPrefix("vm/1000")).Select(o => o.Key).ToList();
        Assert.Equal(3 * 4 + 2, vm1000.Count); // three snapshots of the reference's vm/100 (manifest, image, config, log), owner, notes
        var result = s.Datastore.Group(BackupNamespace.Root, BackupType.Vm, "100").Destroy();
        Assert.Equal((3, 0, true), (result.RemovedSnapshots, result.ProtectedSnapshots, result.GroupRemoved));
        Assert.Empty(s.Client.ListObjects(s.Keys.ContentDirPrefix("vm/100")));
        Assert.Equal(vm1000, s.Client.ListObjects(s.Keys.ContentDirPrefix("vm/1000")).Select(o => o.Key).ToList());
        AssertBucketMirrorsCache(s);
    }

    [Fact]
    public void A_group_with_a_protected_snapshot_keeps_it_and_its_owner_in_the_bucket()
    {
        using var s = Prepare();
        var result = s.Datastore.Group(BackupNamespace.Root, BackupType.Ct, "200").Destroy();
        Assert.Equal((2, 1, false), (result.RemovedSnapshots, result.ProtectedSnapshots, result.GroupRemoved));
        Assert.NotNull(s.Client.HeadObject(s.Keys.Content("ct/200/2024-03-08T12:00:00Z/.protected")));
        Assert.NotNull(s.Client.HeadObject(s.Keys.Content("ct/200/owner")));
        AssertBucketMirrorsCache(s);
    }

    [Fact]
    public void Removing_a_namespace_deletes_its_subtree_and_never_a_sibling_whose_name_starts_alike()
    {
        using var s = Prepare();
        var prod2 = s.Client.ListObjects(s.Keys.ContentDirPrefix(BackupNamespace.Parse("prod2").RelativePath)).Select(o => o.Key).ToList();
        Assert.Equal(2, prod2.Count); // marker + owner
        var result = s.Datastore.RemoveNamespace(BackupNamespace.Parse("prod"), deleteGroups: true);
        Assert.True(result.Complete);
        Assert.Empty(s.Client.ListObjects(s.Keys.ContentDirPrefix(BackupNamespace.Parse("prod").RelativePath)));
        Assert.Equal(prod2, s.Client.ListObjects(s.Keys.ContentDirPrefix(BackupNamespace.Parse("prod2").RelativePath)).Select(o => o.Key).ToList());
        AssertBucketMirrorsCache(s);

        var created = s.Datastore.CreateNamespace(BackupNamespace.Parse("prod"));
        Assert.NotNull(s.Client.HeadObject(s.Keys.Content($"{created.RelativePath}/{S3Keys.NamespaceMarkerName}")));
        AssertBucketMirrorsCache(s);
    }

    [Fact]
    public void Removing_a_snapshot_deletes_its_objects_first_and_a_protected_one_stays()
    {
        using var s = Prepare();
        var group = s.Datastore.Group(BackupNamespace.Root, BackupType.Ct, "200");
        var isProtected = group.Snapshot("2024-03-08T12:00:00Z");
        Assert.Equal("SnapshotProtected", Assert.Throws<PbsException>(() => isProtected.Destroy()).ErrorId);
        var removed = group.Snapshot("2024-03-01T12:00:00Z");
        Assert.NotEmpty(s.Client.ListObjects(s.Keys.ContentDirPrefix(removed.RelativePath)));
        removed.Destroy();
        Assert.Empty(s.Client.ListObjects(s.Keys.ContentDirPrefix(removed.RelativePath)));
        AssertBucketMirrorsCache(s);

        // A bucket that refuses leaves the cache as it was: the removal can be repeated.
        using var broken = Datastore.Open(s.Copy.StorePath, s.Name, S3TestServer.DatastoreConfig(s.Name, s.Copy.StorePath, S3TestServer.OtherBucket + "-missing"));
        var snapshot = broken.Group(BackupNamespace.Root, BackupType.Ct, "200").Snapshot("2024-03-02T12:00:00Z");
        Assert.ThrowsAny<PbsException>(() => snapshot.Destroy());
        Assert.True(Directory.Exists(snapshot.FullPath));
        AssertBucketMirrorsCache(s);
    }

    [Fact]
    public void Unlisted_files_go_from_the_bucket_and_the_cache()
    {
        using var s = Prepare();
        var snapshot = s.Datastore.Group(BackupNamespace.Root, BackupType.Vm, "100").Snapshot("2024-03-02T10:00:00Z");
        // A stray file in the cache and one that also reached the bucket (a crashed writer's leftovers).
        File.WriteAllText(Path.Combine(snapshot.FullPath, "stray.tmp"), "x");
        File.WriteAllText(Path.Combine(snapshot.FullPath, "old.img.fidx"), "y");
        s.Client.PutObject(s.Keys.Content($"{snapshot.RelativePath}/old.img.fidx"), "y"u8.ToArray());
        Assert.Equal(["old.img.fidx", "stray.tmp"], snapshot.RemoveUnlistedFiles());
        Assert.Null(s.Client.HeadObject(s.Keys.Content($"{snapshot.RelativePath}/old.img.fidx")));
        Assert.Empty(snapshot.FindUnlistedFiles());
        AssertBucketMirrorsCache(s);
    }

    [Fact]
    public void Owner_notes_and_protection_reach_the_bucket_before_the_cache()
    {
        using var s = Prepare();
        var group = s.Datastore.Group(BackupNamespace.Root, BackupType.Vm, "100");
        group.SetOwner(Authid.Parse("backup@pbs"));
        Assert.Equal("backup@pbs\n"u8.ToArray(), s.Client.GetObject(s.Keys.Content("vm/100/owner")));
        group.SetNotes("moved off-site");
        Assert.Equal("moved off-site"u8.ToArray(), s.Client.GetObject(s.Keys.Content("vm/100/notes")));
        var snapshot = group.Snapshot("2024-03-02T10:00:00Z");
        snapshot.SetProtected(true);
        Assert.NotNull(s.Client.HeadObject(s.Keys.Content("vm/100/2024-03-02T10:00:00Z/.protected")));
        AssertBucketMirrorsCache(s);
        snapshot.SetProtected(false);
        group.SetNotes(null);
        Assert.Null(s.Client.HeadObject(s.Keys.Content("vm/100/notes")));
        AssertBucketMirrorsCache(s);
        snapshot.SetNotes("checked");
        Assert.Equal(File.ReadAllBytes(snapshot.ManifestPath), s.Client.GetObject(s.Keys.Content($"{snapshot.RelativePath}/index.json.blob")));

        // Refused by the bucket: the cache keeps the old owner.
        using var broken = Datastore.Open(s.Copy.StorePath, s.Name, S3TestServer.DatastoreConfig(s.Name, s.Copy.StorePath, S3TestServer.OtherBucket + "-missing"));
        Assert.ThrowsAny<PbsException>(() => broken.Group(BackupNamespace.Root, BackupType.Vm, "100").SetOwner(Authid.RootPam));
        Assert.Equal("backup@pbs", group.ReadOwner()!.ToString());
    }
}
