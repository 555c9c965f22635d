using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Locking;
using PbsDatastore.Core.Native;
using PbsDatastore.Core.Store;

namespace PbsDatastore.Core.S3;

/// <summary>What the local cache holds for a chunk (addendum §4.3).</summary>
public enum S3CachedChunk
{
    /// <summary>No local file: the chunk is unknown here (GC phase 1 then leaves a `.using` marker).</summary>
    Missing,
    /// <summary>A zero-length file: the chunk is in the bucket and was evicted from the cache (normal, not corruption).</summary>
    Marker,
    /// <summary>The full chunk is cached locally.</summary>
    Cached,
}

/// <summary>
/// The chunks of an S3-backed datastore: bucket objects under `STORE/.chunks/` and the local cache directory's
/// `.chunks/` tree of full files and zero-length markers, with PBS 4.2's per-chunk flocks under the run root
/// (`locks/STORE/.chunks/PPPP/DIGEST`, §4.5) around every change.
/// Chunks fetched from the bucket are not written back into the cache: PBS sizes its cache LRU in its own
/// memory, so files we add would sit outside its capacity; a marker stays a marker.
/// </summary>
public sealed class S3ChunkCache
{
    /// <summary>PBS waits up to 3 hours for a chunk lock when uploading, renaming or marking (§4.5).</summary>
    public static readonly TimeSpan ChunkLockTimeout = TimeSpan.FromHours(3);

    private const string UsingSuffix = ".using";

    public S3ChunkCache(ChunkStore local, S3Client client)
    {
        Local = local;
        Client = client;
        Keys = new S3Keys(local.Name);
    }

    public ChunkStore Local { get; }
    public S3Client Client { get; }
    public S3Keys Keys { get; }

    public static string ChunkLockPath(string store, ChunkDigest digest)
        => Path.Combine(LockPaths.StoreLockDir(store), ChunkStore.ChunkDirName, ChunkStore.PrefixDirName(digest.PrefixIndex), digest.ToString());

    /// <summary>The chunk's flock, waiting up to <paramref name="timeout"/> (zero: one attempt); LockBusy if held.</summary>
    public FlockHandle LockChunk(ChunkDigest digest, TimeSpan timeout)
        => FileLocks.LockFile(ChunkLockPath(Local.Name, digest), exclusive: true, timeout, "chunk lock");

    /// <summary>The chunk's flock if it is free right now, else null (GC phases 2 and 3 skip busy chunks).</summary>
    public FlockHandle? TryLockChunk(ChunkDigest digest)
    {
        try { return LockChunk(digest, TimeSpan.Zero); }
        catch (PbsException e) when (e.ErrorId == "LockBusy") { return null; }
    }

    public S3CachedChunk State(ChunkDigest digest) => Local.Stat(digest) switch
    {
        null => S3CachedChunk.Missing,
        { Size: 0 } => S3CachedChunk.Marker,
        _ => S3CachedChunk.Cached,
    };

    /// <summary>`DIGEST.using` beside the chunk: "referenced, no local marker" (GC phase 1 → phase 2, §4.6).</summary>
    public string UsingMarkerPath(ChunkDigest digest) => Local.ChunkPath(digest) + UsingSuffix;

    /// <summary>
    /// The chunk's raw blob bytes: from the cache when the full file is there, otherwise from the bucket (an empty
    /// marker or a missing file). ChunkNotFound when the bucket has no such object either.
    /// </summary>
    public byte[] Load(ChunkDigest digest)
    {
        if (State(digest) == S3CachedChunk.Cached) return Local.Load(digest);
        var key = Keys.Chunk(digest);
        return Client.GetObject(key) ?? throw new PbsException("ChunkNotFound", PbsErrorKind.ObjectNotFound,
            $"chunk {digest} not found on store '{Local.Name}' (no object '{key}' in bucket '{Client.Bucket}')", key);
    }

    /// <summary>
    /// Stores a chunk as PBS does on S3 (under the chunk flock): a chunk the cache knows (full file or marker) is a
    /// duplicate and only touched; otherwise it is uploaded without replacing an existing object, then recorded
    /// locally as an empty marker.
    /// </summary>
    public ChunkInsertResult Insert(ChunkDigest digest, DataBlob blob)
    {
        using var chunkLock = LockChunk(digest, ChunkLockTimeout);
        if (Local.Stat(digest) is { } existing)
        {
            ChunkStore.CondTouchPath(Local.ChunkPath(digest), assertExists: true);
            return new ChunkInsertResult(true, existing.Size > 0 ? existing.Size : blob.Raw.Length);
        }
        var uploaded = Client.PutObject(Keys.Chunk(digest), blob.Raw.ToArray(), replace: false);
        WriteMarker(Local.ChunkPath(digest));
        return new ChunkInsertResult(!uploaded, blob.Raw.Length);
    }

    /// <summary>Drops a cached chunk's data, leaving the empty marker that says "in the bucket" (eviction).</summary>
    public void Evict(ChunkDigest digest)
    {
        using var chunkLock = LockChunk(digest, ChunkLockTimeout);
        if (State(digest) == S3CachedChunk.Cached) WriteMarker(Local.ChunkPath(digest));
    }

    /// <summary>
    /// Renames a corrupt chunk the way PBS 4.2 does on S3 (§3.2): under the chunk flock, N is the first of 0…9 with
    /// no local `DIGEST.N.bad` (9 is reused when all exist); the object is copied to `….N.bad` and the original
    /// key deleted, then the local file (full or marker) is renamed to `DIGEST.N.bad`. Returns the new key.
    /// Callers rename only for decode or digest failures, never for a failed fetch.
    /// </summary>
    public string RenameCorrupt(ChunkDigest digest)
    {
        using var chunkLock = LockChunk(digest, ChunkLockTimeout);
        var path = Local.ChunkPath(digest);
        var n = Enumerable.Range(0, 10).FirstOrDefault(i => ChunkStore.StatPath($"{path}.{i}.bad") is null, 9);
        var badKey = Keys.BadChunk(digest, n);
        Client.CopyObject(Keys.Chunk(digest), badKey);
        Client.DeleteObject(Keys.Chunk(digest));
        if (ChunkStore.StatPath(path) is not null && Libc.Rename(path, $"{path}.{n}.bad") != 0)
            throw new PbsException("ChunkRenameFailed", PbsErrorKind.WriteError,
                $"could not rename corrupt chunk \"{path}\" - {Libc.StrError(Libc.LastErrno)}", path);
        return badKey;
    }

    internal static void WriteMarker(string path) => AtomicFile.Replace(path, ReadOnlySpan<byte>.Empty, owner: BackupOwner.ForNewFiles());
}
