using PbsDatastore.Core.Formats;
using PbsDatastore.Core.S3;
using PbsDatastore.Core.Store;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.S3;

/// <summary>Local cache semantics (addendum §4.3/§4.5) over the reference store uploaded to s3rver.</summary>
[Collection(S3ServerCollection.Name)]
public class S3ChunkCacheTests(S3TestServer server)
{
    private static string UniqueStore() => "st" + Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public void The_uploaded_reference_store_has_exactly_the_pbs_4_2_layout()
    {
        using var copy = ReferenceStore.FreshCopy();
        using var client = server.Client();
        var name = UniqueStore();
        S3ReferenceStore.Upload(copy.StorePath, client, name, evict: _ => true);
        // s3rver does not list in S3's binary key order (DIGEST.0.bad before DIGEST), so compare as sets.
        var listed = client.ListObjects(name + "/").Select(o => o.Key).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(S3ReferenceStore.ExpectedKeys(name), listed);

        // Objects hold the same bytes as the files (chunks: the raw DataBlob).
        var chunks = ReferenceStore.Expected["store"]!["chunks"]!.AsArray();
        foreach (var c in chunks.Take(5))
        {
            var body = client.GetObject($"{name}/{(string)c!["path"]!}")!;
            Assert.Equal((long)c["file_size"]!, body.Length);
            Assert.Equal((string)c["sha256"]!, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(body)));
        }
        // In the cache every chunk became a zero-length marker, bad files and the tmp_ leftover stay as they were.
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
        var cache = new S3ChunkCache(ChunkStore.Open(name, copy.StorePath), client);

        var before = client.Counters.Snapshot();
        foreach (var (path, sha) in chunks)
        {
            var digest = ChunkDigest.Parse(Path.GetFileName(path));
            Assert.Equal(evicted.Contains(path) ? S3CachedChunk.Marker : S3CachedChunk.Cached, cache.State(digest));
            var raw = cache.Load(digest);
            Assert.Equal(sha, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(raw)));
        }
        var used = client.Counters.Snapshot() - before;
        Assert.Equal(evicted.Count, used.Get); // one GET per marker, none for cached chunks
        Assert.Equal(evicted.Count, used.Requests);
        // Fetched chunks are not written back: markers stay markers.
        Assert.All(evicted, p => Assert.Equal(0, new FileInfo(Path.Combine(copy.StorePath, p)).Length));

        var missing = ChunkDigest.Parse((string)ReferenceStore.Expected["store"]!["missing_chunks"]![0]!["digest"]!);
        var e = Assert.Throws<PbsException>(() => cache.Load(missing));
        Assert.Equal(("ChunkNotFound", PbsErrorKind.ObjectNotFound), (e.ErrorId, e.Kind));
        Assert.Equal(S3CachedChunk.Missing, cache.State(missing));
    }

    [Fact]
    public void Insert_uploads_new_chunks_once_and_records_a_marker()
    {
        using var copy = ReferenceStore.FreshCopy();
        using var client = server.Client();
        var name = UniqueStore();
        S3ReferenceStore.Upload(copy.StorePath, client, name);
        var cache = new S3ChunkCache(ChunkStore.Open(name, copy.StorePath), client);
        var data = new byte[100_000];
        Random.Shared.NextBytes(data);
        var blob = DataBlob.Encode(data, null, compress: true);
        var digest = new ChunkDigest(System.Security.Cryptography.SHA256.HashData(data));

        var before = client.Counters.Snapshot();
        Assert.False(cache.Insert(digest, blob).Duplicate);
        Assert.Equal(S3CachedChunk.Marker, cache.State(digest));
        Assert.Equal(blob.Raw.ToArray(), client.GetObject(cache.Keys.Chunk(digest)));
        Assert.True(cache.Insert(digest, blob).Duplicate); // known locally: no second upload
        var used = client.Counters.Snapshot() - before;
        Assert.Equal((1L, 1L), (used.Put, used.Get));
        Assert.Equal(blob.Raw.ToArray(), cache.Load(digest));
    }

    [Fact]
    public void Insert_waits_for_a_chunk_flock_another_process_holds()
    {
        using var copy = StoreCopy.WithoutChunks();
        Directory.CreateDirectory(Path.Combine(copy.StorePath, ".chunks", "7777"));
        using var client = server.Client();
        var name = UniqueStore();
        var cache = new S3ChunkCache(ChunkStore.Open(name, copy.StorePath), client);
        var data = new byte[4096];
        Random.Shared.NextBytes(data);
        var blob = DataBlob.Encode(data, null, compress: false);
        var digest = ChunkDigest.Parse("7777" + new string('0', 60));
        var lockPath = S3ChunkCache.ChunkLockPath(name, digest);
        Directory.CreateDirectory(Path.GetDirectoryName(lockPath)!);
        Task<ChunkInsertResult> insert;
        using (new ChildLockHolder(lockPath))
        {
            Assert.Null(cache.TryLockChunk(digest));
            insert = Task.Run(() => cache.Insert(digest, blob));
            Assert.False(insert.Wait(500));
            Assert.Equal(0, client.Counters.Snapshot().Put); // nothing uploaded while the lock is held
        }
        Assert.False(insert.Result.Duplicate);
        Assert.Equal(1, client.Counters.Snapshot().Put);
        using var mine = cache.TryLockChunk(digest);
        Assert.NotNull(mine);
    }

    [Fact]
    public void Corrupt_chunks_are_renamed_in_bucket_and_cache()
    {
        using var copy = ReferenceStore.FreshCopy();
        using var client = server.Client();
        var name = UniqueStore();
        S3ReferenceStore.Upload(copy.StorePath, client, name);
        var cache = new S3ChunkCache(ChunkStore.Open(name, copy.StorePath), client);
        // The reference store's chunk with a stale .0.bad: the next number is 1.
        var digest = ChunkDigest.Parse((string)ReferenceStore.Expected["gc_cases"]!["present_chunk_with_stale_0_bad_file"]!);
        var raw = cache.Load(digest);
        Assert.Equal(cache.Keys.BadChunk(digest, 1), cache.RenameCorrupt(digest));
        Assert.Null(client.HeadObject(cache.Keys.Chunk(digest)));
        Assert.Equal(raw, client.GetObject(cache.Keys.BadChunk(digest, 1)));
        var local = cache.Local.ChunkPath(digest);
        Assert.False(File.Exists(local));
        Assert.Equal(raw, File.ReadAllBytes(local + ".1.bad"));
        Assert.True(File.Exists(local + ".0.bad"));
    }
}
