using System.Buffers;
using System.Security.Cryptography;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.S3;
using PbsDatastore.Core.Store;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.S3;

/// <summary>
/// The S3 backend (addendum §4.3/§4.5) over the reference store uploaded into PBS 4.2's S3 layout on s3rver:
/// layout, reads from cache or bucket, inserts under the chunk flock, corrupt-chunk renames, and the datastore
/// jobs (listing, verify) run through it against the expected JSON.
/// </summary>
[Collection(S3ServerCollection.Name)]
public class S3BackendTests(S3TestServer server)
{
    private static string UniqueStore() => "st" + Guid.NewGuid().ToString("N")[..12];

    private static byte[] Read(IDatastoreBackend backend, ChunkDigest digest)
    {
        var errno = backend.ReadChunk(digest, out var buffer, out var length);
        if (errno != 0) throw new IOException($"errno {errno}");
        var bytes = buffer.AsSpan(0, (int)length).ToArray();
        ArrayPool<byte>.Shared.Return(buffer!);
        return bytes;
    }

    [Fact]
    public void The_uploaded_reference_store_has_exactly_the_pbs_4_2_layout()
    {
        using var copy = ReferenceStore.FreshCopy();
        using var client = server.Client();
        var name = UniqueStore();
        S3ReferenceStore.Upload(copy.StorePath, client, name, evict: _ => true);
        // s3rver does not list in S3's binary key order (DIGEST.0.bad before DIGEST), so compare sorted.
        var listed = client.ListObjects(name + "/").Select(o => o.Key).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(S3ReferenceStore.ExpectedKeys(name), listed);

        // Objects hold the same bytes as the files (chunks: the raw DataBlob).
        var chunks = ReferenceStore.Expected["store"]!["chunks"]!.AsArray();
        foreach (var c in chunks.Take(5))
        {
            var body = client.GetObject($"{name}/{(string)c!["path"]!}")!;
            Assert.Equal((long)c["file_size"]!, body.Length);
            Assert.Equal((string)c["sha256"]!, Convert.ToHexStringLower(SHA256.HashData(body)));
        }
        // In the cache every chunk became a zero-length marker; bad files and the tmp_ leftover stay as they were.
        foreach (var c in chunks) Assert.Equal(0, new FileInfo(Path.Combine(copy.StorePath, (string)c!["path"]!)).Length);
        foreach (var b in ReferenceStore.Expected["store"]!["bad_files"]!.AsArray())
            Assert.Equal((long)b!["file_size"]!, new FileInfo(Path.Combine(copy.StorePath, (string)b["path"]!)).Length);
    }

    [Fact]
    public void Markers_keep_the_times_gc_looks_at()
    {
        using var copy = ReferenceStore.FreshCopy();
        var rel = (string)ReferenceStore.Expected["store"]!["chunks"]![0]!["path"]!;
        var file = Path.Combine(copy.StorePath, rel);
        var (atime, mtime) = (File.GetLastAccessTimeUtc(file), File.GetLastWriteTimeUtc(file));
        S3ReferenceStore.Truncate(file);
        Assert.Equal((0L, atime, mtime), (new FileInfo(file).Length, File.GetLastAccessTimeUtc(file), File.GetLastWriteTimeUtc(file)));
    }

    [Fact]
    public void Reads_come_from_the_cache_or_the_bucket_and_markers_are_not_corruption()
    {
        using var copy = ReferenceStore.FreshCopy();
        using var client = server.Client();
        var name = UniqueStore();
        var chunks = ReferenceStore.Expected["store"]!["chunks"]!.AsArray().Select(c => (Path: (string)c!["path"]!, Sha: (string)c["sha256"]!)).ToList();
        var evicted = chunks.Where((_, i) => i % 2 == 0).Select(c => c.Path).ToHashSet();
        S3ReferenceStore.Upload(copy.StorePath, client, name, evict: evicted.Contains);
        using var backend = new S3Backend(FilesystemBackend.Open(name, copy.StorePath), client);

        var before = client.Counters.Snapshot();
        foreach (var (path, sha) in chunks)
        {
            var digest = ChunkDigest.Parse(Path.GetFileName(path));
            Assert.Equal(evicted.Contains(path) ? S3CachedChunk.Marker : S3CachedChunk.Cached, backend.State(digest));
            Assert.Equal(sha, Convert.ToHexStringLower(SHA256.HashData(Read(backend, digest))));
        }
        var used = client.Counters.Snapshot() - before;
        Assert.Equal(evicted.Count, used.Get); // one GET per marker, none for cached chunks
        Assert.Equal(evicted.Count, used.Requests);
        // Fetched chunks are not written back: markers stay markers.
        Assert.All(evicted, p => Assert.Equal(0, new FileInfo(Path.Combine(copy.StorePath, p)).Length));

        var missing = ChunkDigest.Parse((string)ReferenceStore.Expected["store"]!["missing_chunks"]![0]!["digest"]!);
        Assert.Equal(Native.Libc.ENOENT, backend.ReadChunk(missing, out var none, out _));
        Assert.Null(none);
        Assert.Equal(S3CachedChunk.Missing, backend.State(missing));
    }

    [Fact]
    public void A_bucket_that_keeps_failing_reads_as_an_io_error_not_a_missing_chunk()
    {
        using var copy = ReferenceStore.FreshCopy();
        var name = UniqueStore();
        using (var uploader = server.Client()) S3ReferenceStore.Upload(copy.StorePath, uploader, name, evict: _ => true);
        var endpoint = server.Endpoint();
        var faults = new FaultInjectingHandler(S3Client.CreateTransport(endpoint)).Inject(_ => true, S3Fault.InternalError, times: 1000);
        using var backend = new S3Backend(FilesystemBackend.Open(name, copy.StorePath), server.Client(endpoint: endpoint, transport: faults));
        var digest = ChunkDigest.Parse(Path.GetFileName((string)ReferenceStore.Expected["store"]!["chunks"]![0]!["path"]!));
        Assert.Equal(Native.Libc.EIO, backend.ReadChunk(digest, out _, out _));
    }

    [Fact]
    public void Insert_uploads_new_chunks_once_and_records_a_marker()
    {
        using var copy = StoreCopy.WithoutChunks();
        Directory.CreateDirectory(Path.Combine(copy.StorePath, ".chunks", "7777"));
        using var client = server.Client();
        var name = UniqueStore();
        using var backend = new S3Backend(FilesystemBackend.Open(name, copy.StorePath), client);
        var data = RandomNumberGenerator.GetBytes(100_000);
        var blob = DataBlob.Encode(data, null, compress: true);
        var digest = ChunkDigest.Parse("7777" + Convert.ToHexStringLower(SHA256.HashData(data))[4..]);

        var before = client.Counters.Snapshot();
        Assert.False(backend.InsertChunk(digest, blob).Duplicate);
        Assert.Equal(S3CachedChunk.Marker, backend.State(digest));
        Assert.Equal(blob.Raw.ToArray(), client.GetObject(backend.Keys.Chunk(digest)));
        Assert.True(backend.InsertChunk(digest, blob).Duplicate); // known locally: no second upload
        var used = client.Counters.Snapshot() - before;
        Assert.Equal((1L, 1L), (used.Put, used.Get));
        Assert.Equal(blob.Raw.ToArray(), Read(backend, digest));
    }

    [Fact]
    public async Task Insert_waits_for_a_chunk_flock_another_process_holds()
    {
        using var copy = StoreCopy.WithoutChunks();
        Directory.CreateDirectory(Path.Combine(copy.StorePath, ".chunks", "7777"));
        using var client = server.Client();
        var name = UniqueStore();
        using var backend = new S3Backend(FilesystemBackend.Open(name, copy.StorePath), client);
        var blob = DataBlob.Encode(RandomNumberGenerator.GetBytes(4096), null, compress: false);
        var digest = ChunkDigest.Parse("7777" + new string('0', 60));
        var lockPath = S3Backend.ChunkLockPath(name, digest);
        Directory.CreateDirectory(Path.GetDirectoryName(lockPath)!);
        Task<ChunkInsertResult> insert;
        using (new ChildLockHolder(lockPath))
        {
            Assert.Null(backend.TryLockChunk(digest));
            insert = Task.Run(() => backend.InsertChunk(digest, blob));
            Assert.NotSame(insert, await Task.WhenAny(insert, Task.Delay(500)));
            Assert.Equal(0, client.Counters.Snapshot().Put); // nothing uploaded while the lock is held
        }
        Assert.False((await insert).Duplicate);
        Assert.Equal(1, client.Counters.Snapshot().Put);
        using var mine = backend.TryLockChunk(digest);
        Assert.NotNull(mine);
    }

    [Fact]
    public void Corrupt_chunks_are_renamed_in_bucket_and_cache()
    {
        using var copy = ReferenceStore.FreshCopy();
        using var client = server.Client();
        var name = UniqueStore();
        S3ReferenceStore.Upload(copy.StorePath, client, name);
        using var backend = new S3Backend(FilesystemBackend.Open(name, copy.StorePath), client);
        // The reference store's chunk with a stale .0.bad: the next number is 1.
        var digest = ChunkDigest.Parse((string)ReferenceStore.Expected["gc_cases"]!["present_chunk_with_stale_0_bad_file"]!);
        var raw = Read(backend, digest);
        var state = new RecordingTaskState();
        var local = backend.ChunkPath(digest);
        Assert.Equal(local + ".1.bad", backend.RenameCorruptChunk(digest, state));
        Assert.Null(client.HeadObject(backend.Keys.Chunk(digest)));
        Assert.Equal(raw, client.GetObject(backend.Keys.BadChunk(digest, 1)));
        Assert.False(File.Exists(local));
        Assert.Equal(raw, File.ReadAllBytes(local + ".1.bad"));
        Assert.True(File.Exists(local + ".0.bad"));
        Assert.Contains($"corrupted chunk renamed to \"{local}.1.bad\"", state.Logs);
        // A chunk the bucket does not have is not renamed.
        var missing = ChunkDigest.Parse((string)ReferenceStore.Expected["store"]!["missing_chunks"]![0]!["digest"]!);
        Assert.Null(backend.RenameCorruptChunk(missing, state));
    }

    [Fact]
    public void A_configured_s3_store_lists_and_verifies_like_pbs_and_mirrors_verify_state_to_the_bucket()
    {
        using var copy = ReferenceStore.FreshCopy();
        using var client = server.Client();
        var name = UniqueStore();
        S3ReferenceStore.Upload(copy.StorePath, client, name, evict: _ => true);
        using var store = Datastore.Open(copy.StorePath, name, S3TestServer.DatastoreConfig(name, copy.StorePath));
        Assert.IsType<S3Backend>(store.Backend);

        var expectedStore = ReferenceStore.Expected["store"]!;
        Assert.Equal(expectedStore["namespaces"]!.AsArray().Select(n => (string)n!["ns"]!), store.ListNamespaces().Select(n => n.Name));
        var groups = store.ListNamespaces().SelectMany(ns => store.ListGroups(ns)).ToList();
        Assert.Equal(expectedStore["groups"]!.AsArray().Select(g => (string)g!["path"]!).Order(StringComparer.Ordinal),
            groups.Select(g => g.RelativePath).Order(StringComparer.Ordinal));

        var expected = ReferenceStore.Expected["verify"]!["without_key"]!;
        var job = new VerifyJob(store, new VerifyOptions());
        var results = job.VerifyGroups(groups, new RecordingTaskState());
        Assert.Equal(expected["per_snapshot"]!.AsArray().Select(p => (string)p!["snapshot"]!).Order(StringComparer.Ordinal),
            results.Select(r => r.BackupSnapshot.RelativePath).Order(StringComparer.Ordinal));
        foreach (var p in expected["per_snapshot"]!.AsArray())
            Assert.Equal((bool)p!["ok"]!, results.Single(r => r.BackupSnapshot.RelativePath == (string)p["snapshot"]!).Ok);
        Assert.Equal((long)expected["chunks_loaded"]!, job.Chunks.ChunksLoaded);
        Assert.Equal((int)expected["chunks_verified_ok"]!, job.Chunks.VerifiedChunks.Count);
        Assert.Equal(expected["corrupt_chunks"]!.AsArray().Select(x => (string)x!), job.Chunks.CorruptChunks.Select(d => d.ToString()).Order(StringComparer.Ordinal));
        Assert.Equal((long)expected["read_bytes"]!, job.Chunks.ReadBytes);
        Assert.Equal((long)expected["decoded_bytes"]!, job.Chunks.DecodedBytes);
        // Every chunk came from the bucket (all were markers), and markers are still markers.
        Assert.True(((S3Backend)store.Backend).Client.Counters.Snapshot().Get >= job.Chunks.ChunksLoaded);
        foreach (var c in expectedStore["chunks"]!.AsArray())
            Assert.Equal(0, new FileInfo(Path.Combine(copy.StorePath, (string)c!["path"]!)).Length);

        // verify_state went to the bucket's manifest too, byte for byte.
        foreach (var r in results.Where(r => File.Exists(r.BackupSnapshot.ManifestPath)))
            Assert.Equal(File.ReadAllBytes(r.BackupSnapshot.ManifestPath),
                client.GetObject(new S3Keys(name).Content($"{r.BackupSnapshot.RelativePath}/index.json.blob")));
    }

    [Fact]
    public void Renames_copy_the_objects_then_rename_the_cache_then_delete_the_sources()
    {
        using var copy = StoreCopy.WithoutChunks();
        using var client = server.Client();
        var name = UniqueStore();
        S3ReferenceStore.Upload(copy.StorePath, client, name);
        using var backend = new S3Backend(FilesystemBackend.Open(name, copy.StorePath), client);
        const string from = "vm/100/2024-03-01T10:00:00Z", to = "ns/prod/vm/100/2024-03-01T10:00:00Z";
        Directory.CreateDirectory(Path.Combine(copy.StorePath, "ns/prod/vm/100"));
        var keys = new S3Keys(name);
        var before = client.ListObjects(keys.ContentDirPrefix(from)).Select(o => o.Key[keys.ContentDirPrefix(from).Length..]).Order().ToList();
        Assert.NotEmpty(before);
        Assert.Equal(0, backend.RenameNoReplace(from, to));
        Assert.Empty(client.ListObjects(keys.ContentDirPrefix(from)));
        Assert.Equal(before, client.ListObjects(keys.ContentDirPrefix(to)).Select(o => o.Key[keys.ContentDirPrefix(to).Length..]).Order());
        Assert.True(Directory.Exists(Path.Combine(copy.StorePath, to)));
        Assert.False(Directory.Exists(Path.Combine(copy.StorePath, from)));
        // Never over an existing target, in the cache or in the bucket: both snapshots stay as they were.
        var target = keys.Content("vm/100/2024-03-03T10:00:00Z/index.json.blob");
        var targetManifest = client.GetObject(target);
        Assert.Equal(Native.Libc.EEXIST, backend.RenameNoReplace("vm/100/2024-03-02T10:00:00Z", "vm/100/2024-03-03T10:00:00Z"));
        Assert.Equal(targetManifest, client.GetObject(target));
        Assert.NotNull(client.GetObject(keys.Content("vm/100/2024-03-02T10:00:00Z/index.json.blob")));
        Assert.True(Directory.Exists(Path.Combine(copy.StorePath, "vm/100/2024-03-02T10:00:00Z")));
    }
}
