using System.Security.Cryptography;
using PbsDatastore.Core.Backup;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.S3;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.S3;

/// <summary>
/// New snapshots written into an S3 store (PBS 4.2's backup on an S3 backend, addendum §4.3): chunks uploaded as
/// they come, blobs when they arrive, indexes and the manifest at finish, the cache keeping markers and copies.
/// </summary>
public partial class S3WriteTests
{
    private static readonly (string Name, byte[] Data)[] BackupInputs =
    [
        ("drive-scsi0.img.fidx", Pseudorandom(3 * 65536 + 12345, 1)),
        ("root.pxar.didx", Pseudorandom(5 * 65536 + 777, 2)),
        ("qemu-server.conf.blob", Pseudorandom(3000, 3)),
    ];

    /// <summary>Compressible but not trivially, so chunks differ and compress.</summary>
    private static byte[] Pseudorandom(int length, int seed)
    {
        var random = new Random(seed);
        var data = new byte[length];
        for (var i = 0; i < length; i++) data[i] = (byte)(random.Next(4) == 0 ? random.Next(256) : 'a' + random.Next(8));
        return data;
    }

    private static BackupSnapshot WriteSnapshot(Datastore store, BackupNamespace ns, string id, long time, Action<SnapshotWriter>? beforeFinish = null)
    {
        using var writer = SnapshotWriter.Begin(store, ns, BackupType.Vm, id, time, Authid.RootPam, null, new RecordingTaskState());
        foreach (var (name, data) in BackupInputs) writer.AddArchive(name, new MemoryStream(data), data.Length, 65536);
        beforeFinish?.Invoke(writer);
        return writer.Finish();
    }

    [Fact]
    public void A_new_snapshot_reaches_the_bucket_and_exports_and_verifies_from_it_alone()
    {
        using var s = Prepare();
        var ns = BackupNamespace.Parse("prod");
        var snapshot = WriteSnapshot(s.Datastore, ns, "4242", 1_800_000_000);
        AssertBucketMirrorsCache(s);
        // Every file of the snapshot and the new group's owner are in the bucket byte for byte.
        foreach (var file in Directory.EnumerateFiles(snapshot.FullPath).Where(f => !Path.GetFileName(f).StartsWith('.')))
            Assert.Equal(File.ReadAllBytes(file), s.Client.GetObject(s.Keys.Content($"{snapshot.RelativePath}/{Path.GetFileName(file)}")));
        Assert.Equal("root@pam\n"u8.ToArray(), s.Client.GetObject(s.Keys.Content($"{snapshot.Group.RelativePath}/owner")));

        // The cache as PBS's would be once evicted: each new chunk an empty marker, its object in the bucket.
        var digests = new HashSet<ChunkDigest>();
        foreach (var f in snapshot.LoadManifest().Files.Where(f => ArchiveNames.TypeOf(f.Filename) != ArchiveType.Blob))
        {
            var index = IndexFile.Open(Path.Combine(snapshot.FullPath, f.Filename));
            for (var i = 0; i < index.Count; i++) digests.Add(index.DigestAt(i));
        }
        Assert.True(digests.Count >= 8, $"{digests.Count} chunks");
        foreach (var d in digests)
        {
            Assert.Equal(0, new FileInfo(s.Datastore.Backend.ChunkPath(d)).Length);
            Assert.NotNull(s.Client.HeadObject(s.Keys.Chunk(d)));
        }
        // ... and the snapshot's directory rebuilt from its `.cnt/` objects alone, as PBS's S3 refresh does.
        Directory.Delete(snapshot.FullPath, recursive: true);
        Directory.CreateDirectory(snapshot.FullPath);
        var prefix = s.Keys.ContentDirPrefix(snapshot.RelativePath);
        foreach (var o in s.Client.ListObjects(prefix))
            File.WriteAllBytes(Path.Combine(snapshot.FullPath, o.Key[prefix.Length..]), s.Client.GetObject(o.Key)!);

        foreach (var (name, data) in BackupInputs)
        {
            var output = new MemoryStream();
            ArchiveExporter.Export(snapshot, name, output, null, new RecordingTaskState());
            Assert.Equal(SHA256.HashData(data), SHA256.HashData(output.ToArray()));
        }
        var result = new VerifyJob(s.Datastore, new VerifyOptions()).VerifySnapshot(snapshot, new RecordingTaskState());
        Assert.True(result.Ok);
        AssertBucketMirrorsCache(s);
    }

    [Fact]
    public void A_second_snapshot_uploads_only_new_chunks_and_its_base_stays_intact()
    {
        using var s = Prepare();
        var first = WriteSnapshot(s.Datastore, BackupNamespace.Root, "4243", 1_800_000_000);
        var puts = ((S3Backend)s.Datastore.Backend).Client.Counters.Snapshot().Put;
        var second = WriteSnapshot(s.Datastore, BackupNamespace.Root, "4243", 1_800_000_100);
        // Same data: no chunk uploaded again; the three archives, the manifest and nothing else.
        Assert.Equal(puts + BackupInputs.Length + 1, ((S3Backend)s.Datastore.Backend).Client.Counters.Snapshot().Put);
        Assert.Equal(first.LoadManifest().Files.Select(f => f.Csum), second.LoadManifest().Files.Select(f => f.Csum));
        AssertBucketMirrorsCache(s);
    }

    [Theory]
    [InlineData("index.json.blob")]
    [InlineData("drive-scsi0.img.fidx")]
    [InlineData("qemu-server.conf.blob")]
    public void A_refused_upload_leaves_no_snapshot_that_looks_finished(string failingFile)
    {
        using var s = Prepare();
        using (var broken = WithFaults(s, t => new FaultInjectingHandler(t).Inject(
                   r => r.Method == HttpMethod.Put && r.RequestUri!.AbsolutePath.EndsWith("/" + failingFile), S3Fault.InternalError, times: 100), out var faults))
        {
            var e = Assert.Throws<PbsException>(() => WriteSnapshot(broken, BackupNamespace.Root, "100", 1_800_000_000));
            Assert.Equal("S3RequestFailed", e.ErrorId);
            Assert.True(faults.Injected > 0);
        }
        var group = s.Datastore.Group(BackupNamespace.Root, BackupType.Vm, "100");
        Assert.DoesNotContain(group.ListSnapshots(), x => x.Time == 1_800_000_000);
        Assert.Empty(s.Client.ListObjects(s.Keys.ContentDirPrefix($"{group.RelativePath}/{BackupTime.Format(1_800_000_000)}")));
        AssertBucketMirrorsCache(s);
        // The backup can simply be repeated.
        WriteSnapshot(s.Datastore, BackupNamespace.Root, "100", 1_800_000_000);
        AssertBucketMirrorsCache(s);
    }
}
