using System.Buffers;
using System.Text;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Locking;
using PbsDatastore.Core.Memory;
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
/// The raw storage of an S3-backed datastore (PBS ≥ 4.0.4, addendum §4): chunks are bucket objects under
/// `STORE/.chunks/`, the datastore directory is the local cache with PBS's normal layout, whose chunk files are
/// full copies or zero-length markers. The snapshot tree, atimes and listings are the cache's (PBS lists, looks up
/// owners and runs GC's mark on the local copy); chunk reads fall back to the bucket; inserts and corrupt-chunk
/// renames change the bucket first, under PBS 4.2's per-chunk flock (`locks/STORE/.chunks/PPPP/DIGEST`, §4.5).
/// Chunks fetched from the bucket are not written back into the cache: PBS sizes its cache LRU in its own
/// memory, so files added here would sit outside its capacity; a marker stays a marker.
/// </summary>
public sealed class S3Backend : IDatastoreBackend
{
    /// <summary>PBS waits up to 3 hours for a chunk lock when uploading, renaming or marking (§4.5).</summary>
    public static readonly TimeSpan ChunkLockTimeout = TimeSpan.FromHours(3);

    private readonly FilesystemBackend _local;

    public S3Backend(FilesystemBackend local, S3Client client)
    {
        _local = local;
        Client = client;
        Keys = new S3Keys(local.Name);
    }

    /// <summary>
    /// Opens the cache at <paramref name="path"/> and <paramref name="bucket"/> through the s3.cfg endpoint
    /// <paramref name="endpointId"/> (the config under the config root unless <paramref name="endpoints"/> is given).
    /// </summary>
    public static S3Backend Open(string name, string path, string endpointId, string bucket, bool syncChunks, S3EndpointConfig? endpoints = null)
    {
        var endpoint = (endpoints ?? S3EndpointConfig.Load()).Get(endpointId);
        var local = FilesystemBackend.Open(name, path, syncChunks);
        return new S3Backend(local, new S3Client(endpoint, bucket));
    }

    public S3Client Client { get; }
    public S3Keys Keys { get; }

    public string Name => _local.Name;
    public string BasePath => _local.BasePath;
    public string ChunkPath(in ChunkDigest digest, string suffix = "") => _local.ChunkPath(digest, suffix);

    // Atimes live on the cache's files and markers, as in PBS (§4.6: no object metadata is ever updated).
    public int TouchChunk(in ChunkDigest digest, ReadOnlySpan<byte> suffix) => _local.TouchChunk(digest, suffix);
    public int StatChunk(in ChunkDigest digest, ReadOnlySpan<byte> suffix, out ChunkFileStat stat) => _local.StatChunk(digest, suffix, out stat);
    public void TouchChunks(int prefix, ReadOnlySpan<ChunkDigest> digests, Span<int> errnos) => _local.TouchChunks(prefix, digests, errnos);
    public void StatChunks(int prefix, ReadOnlySpan<ChunkDigest> digests, Span<int> errnos, Span<ChunkFileStat> stats)
        => _local.StatChunks(prefix, digests, errnos, stats);
    public int OpenChunkDirectory(int prefix, out IStoreDirectory? directory) => _local.OpenChunkDirectory(prefix, out directory);
    public int OpenRoot(out IStoreDirectory? directory) => _local.OpenRoot(out directory);
    public int ReadFile(ReadOnlySpan<byte> relativePath, byte[]? spare, out byte[]? data, out bool opened)
        => _local.ReadFile(relativePath, spare, out data, out opened);
    public int StatFile(ReadOnlySpan<byte> relativePath, out ChunkFileStat stat) => _local.StatFile(relativePath, out stat);
    public void CheckAtimeUpdates() => _local.CheckAtimeUpdates();

    /// <summary>
    /// PBS's S3 move of a snapshot-tree file or directory (addendum §5.2): every object under the source is copied
    /// to the target key, then the cache entry is renamed (never replacing), then the source objects are deleted
    /// (a failed delete leaves only a stale copy, so it is not an error; <see cref="DeleteMovedLeftovers"/> drops
    /// it later). Objects already at the target are refused (EEXIST) unless each is the same object (size and
    /// ETag) as its source: those an interrupted move copied, so a rerun completes instead of failing. Errno of
    /// the local rename; EIO when the bucket refused (nothing changed locally).
    /// </summary>
    public int RenameNoReplace(string fromRelativePath, string toRelativePath)
    {
        // Checked before copying: copying first would overwrite the target's objects.
        if (_local.StatFile(Encoding.UTF8.GetBytes(toRelativePath), out _) == 0) return Libc.EEXIST;
        List<string> sources;
        try
        {
            var (from, to) = (Keys.Content(fromRelativePath), Keys.Content(toRelativePath));
            var copies = ObjectsBelow(fromRelativePath).ToDictionary(o => to + o.Key[from.Length..]);
            var present = new HashSet<string>(StringComparer.Ordinal);
            foreach (var existing in ObjectsBelow(toRelativePath))
            {
                if (!copies.TryGetValue(existing.Key, out var source) || !SameObject(source, existing)) return Libc.EEXIST;
                present.Add(existing.Key);
            }
            foreach (var (target, source) in copies)
                if (!present.Contains(target)) Client.CopyObject(source.Key, target);
            sources = copies.Values.Select(o => o.Key).ToList();
        }
        catch (PbsException) { return Libc.EIO; }
        var errno = _local.RenameNoReplace(fromRelativePath, toRelativePath);
        if (errno != 0) return errno;
        try { DeleteKeys(sources); }
        catch (PbsException) { }
        return 0;
    }

    /// <summary>The objects of a file of the snapshot tree, or of everything below a directory of it.</summary>
    private List<S3ObjectInfo> ObjectsBelow(string relativePath)
    {
        var objects = Client.ListObjects(Keys.ContentDirPrefix(relativePath)).ToList();
        if (Client.HeadObject(Keys.Content(relativePath)) is { } file) objects.Add(file);
        return objects;
    }

    private static bool SameObject(S3ObjectInfo a, S3ObjectInfo b)
        => a.Size == b.Size && a.ETag is { Length: > 0 } && a.ETag.Trim('"') == b.ETag?.Trim('"');

    /// <summary>
    /// After a group move: objects left under the source group's snapshot directories whose snapshot now lives in
    /// the target group (in the cache, and as the same-named object) are copies a move could not delete. They go
    /// now, so that an S3 refresh never brings a moved snapshot back; anything else under the prefix stays.
    /// Throws S3DeleteFailed or S3RequestFailed when the bucket refuses.
    /// </summary>
    public void DeleteMovedLeftovers(string sourceGroup, string targetGroup)
    {
        var prefix = Keys.ContentDirPrefix(sourceGroup);
        var stale = new List<string>();
        foreach (var o in Client.ListObjects(prefix))
        {
            var rest = o.Key[prefix.Length..];
            var slash = rest.IndexOf('/');
            if (slash < 0) continue; // owner, notes: the group's own objects
            var snapshot = rest[..slash];
            if (IsCachedDirectory($"{sourceGroup}/{snapshot}") || !IsCachedDirectory($"{targetGroup}/{snapshot}")) continue;
            if (Client.HeadObject(Keys.Content($"{targetGroup}/{rest}")) is not null) stale.Add(o.Key);
        }
        DeleteKeys(stale);
    }

    private bool IsCachedDirectory(string relativePath)
        => _local.StatFile(Encoding.UTF8.GetBytes(relativePath), out var st) == 0 && st.IsDirectory;

    public S3CachedChunk State(in ChunkDigest digest) => StatChunk(digest, default, out var st) != 0
        ? S3CachedChunk.Missing
        : st.Size == 0 ? S3CachedChunk.Marker : S3CachedChunk.Cached;

    /// <summary>`DIGEST.using` beside the chunk: "referenced, no local marker" (GC phase 1 → phase 2, §4.6).</summary>
    internal static ReadOnlySpan<byte> UsingSuffix => ".using"u8;

    public string UsingMarkerPath(in ChunkDigest digest) => ChunkPath(digest, ".using");

    public static string ChunkLockPath(string store, in ChunkDigest digest)
        => Path.Combine(LockPaths.StoreLockDir(store), ChunkLayout.ChunkDirName, ChunkLayout.PrefixDirName(digest.PrefixIndex), digest.ToString());

    /// <summary>The chunk's flock, waiting up to <paramref name="timeout"/> (zero: one attempt); LockBusy if held.</summary>
    public FlockHandle LockChunk(in ChunkDigest digest, TimeSpan timeout)
        => FileLocks.LockFile(ChunkLockPath(Name, digest), exclusive: true, timeout, "chunk lock");

    /// <summary>The chunk's flock if it is free right now, else null (GC phases 2 and 3 skip busy chunks).</summary>
    public FlockHandle? TryLockChunk(in ChunkDigest digest)
    {
        try { return LockChunk(digest, TimeSpan.Zero); }
        catch (PbsException e) when (e.ErrorId == "LockBusy") { return null; }
    }

    /// <summary>
    /// The full cached file when there is one; otherwise (a marker or no file) the bucket object. ENOENT when the
    /// bucket has none either, EIO when the bucket cannot be read (after the client's retries), EACCES when refused.
    /// </summary>
    public int ReadChunk(in ChunkDigest digest, out byte[]? buffer, out long length)
    {
        if (State(digest) == S3CachedChunk.Cached) return _local.ReadChunk(digest, out buffer, out length);
        buffer = null;
        length = 0;
        byte[]? body;
        try { body = Client.GetObject(Keys.Chunk(digest)); }
        catch (PbsException e) { return e.Kind == PbsErrorKind.PermissionDenied ? Libc.EACCES : Libc.EIO; }
        if (body is null) return Libc.ENOENT;
        length = body.Length;
        if (length > DataBlob.MaxRawSize) return Libc.EFBIG;
        buffer = ArrayPool<byte>.Shared.Rent(Math.Max(body.Length, 1));
        body.CopyTo(buffer, 0);
        return 0;
    }

    /// <summary>
    /// PBS's S3 insert (under the chunk flock): a chunk the cache knows (full file or marker) is a duplicate and only
    /// touched; otherwise it is uploaded without replacing an existing object, then recorded as an empty marker.
    /// </summary>
    public ChunkInsertResult InsertChunk(in ChunkDigest digest, DataBlob blob, ITaskState? state = null)
    {
        using var chunkLock = LockChunk(digest, ChunkLockTimeout);
        if (StatChunk(digest, default, out var existing) == 0)
        {
            this.CondTouchChunk(digest, assertExists: true);
            return new ChunkInsertResult(true, existing.Size > 0 ? existing.Size : blob.Raw.Length);
        }
        var uploaded = Client.PutObject(Keys.Chunk(digest), blob.Raw.ToArray(), replace: false);
        WriteMarker(ChunkPath(digest));
        return new ChunkInsertResult(!uploaded, blob.Raw.Length);
    }

    /// <summary>Drops a cached chunk's data, leaving the empty marker that says "in the bucket" (eviction).</summary>
    public void Evict(in ChunkDigest digest)
    {
        using var chunkLock = LockChunk(digest, ChunkLockTimeout);
        if (State(digest) == S3CachedChunk.Cached) WriteMarker(ChunkPath(digest));
    }

    /// <summary>
    /// PBS 4.2's rename of a corrupt chunk on S3 (§3.2): under the chunk flock, N is the first of 0…9 without a
    /// local `DIGEST.N.bad` (9 is reused when all exist); the object is copied to `….N.bad` and the original key
    /// deleted, then the local file (full or marker) is renamed. Returns the new local path; null (logged) when
    /// the bucket has no such object or the bucket refused. Callers rename only for decode or digest failures,
    /// never because a fetch failed.
    /// </summary>
    public string? RenameCorruptChunk(in ChunkDigest digest, ITaskState state)
    {
        using var chunkLock = LockChunk(digest, ChunkLockTimeout);
        var n = 0;
        while (n < 9 && StatChunk(digest, ChunkLayout.BadSuffixes[n], out _) != Libc.ENOENT) n++;
        var path = ChunkPath(digest);
        var target = $"{path}.{n}.bad";
        try
        {
            Client.CopyObject(Keys.Chunk(digest), Keys.BadChunk(digest, n));
            Client.DeleteObject(Keys.Chunk(digest));
        }
        catch (PbsException e)
        {
            if (e.Kind != PbsErrorKind.ObjectNotFound) state.Log($"could not rename corrupted chunk \"{path}\" - {e.Message}");
            return null;
        }
        if (Libc.Rename(path, target) != 0 && Libc.LastErrno is var errno && errno != Libc.ENOENT)
            state.Log($"could not rename corrupted chunk \"{path}\" - {Libc.StrError(errno)}");
        state.Log($"corrupted chunk renamed to \"{target}\"");
        return target;
    }

    /// <summary>
    /// The objects under `STORE/.chunks/` whose prefix directory holds digests of <paramref name="range"/> (a range
    /// of whole prefix directories, <see cref="DigestPartitions.PrefixDirectoryBits"/>), in key order. Such a range
    /// is a contiguous run of keys: the listing starts after the key that precedes its first directory and stops
    /// at the first key past its last, so a pass over one slice fetches at most one page of the next.
    /// </summary>
    public IEnumerable<S3ObjectInfo> ListChunkObjects(DigestRange range)
    {
        const ulong inDirectory = (1UL << DigestPartitions.PrefixDirectoryBits) - 1;
        if ((range.First & inDirectory) != 0 || (range.Last & inDirectory) != inDirectory)
            throw new ArgumentException($"digest range {range} is not a run of whole prefix directories", nameof(range));
        var first = (int)(range.First >> DigestPartitions.PrefixDirectoryBits);
        var last = (int)(range.Last >> DigestPartitions.PrefixDirectoryBits);
        // `STORE/.chunks/xxxx` sorts before every key in directory xxxx and after every key of the ones before.
        var startAfter = first == 0 ? null : Keys.ChunksPrefix + ChunkLayout.PrefixDirName(first);
        var end = last == ChunkLayout.PrefixCount - 1 ? null : Keys.ChunksPrefix + ChunkLayout.PrefixDirName(last + 1);
        foreach (var o in Client.ListObjects(Keys.ChunksPrefix, startAfter: startAfter))
        {
            if (end != null && string.CompareOrdinal(o.Key, end) >= 0) yield break;
            yield return o;
        }
    }

    /// <summary>
    /// Uploads a file of the snapshot tree (manifest, index, blob, owner, notes) to its `.cnt/` key, replacing it:
    /// PBS mirrors such changes to the bucket before it changes the local copy (addendum §4.7).
    /// </summary>
    public void UploadContent(string relativePath, byte[] data) => Client.PutObject(Keys.Content(relativePath), data);

    /// <summary>Deletes the `.cnt/` object of one file of the snapshot tree (owner, notes, `.protected`, a marker).</summary>
    public void DeleteContent(string relativePath) => Client.DeleteObject(Keys.Content(relativePath));

    /// <summary>
    /// Deletes every object below a directory of the snapshot tree (a snapshot, a group), in DeleteObjects batches.
    /// The prefix ends in `/`, so removing `vm/100` never touches `vm/1000` (PBS's hazard, addendum §4.7).
    /// Throws S3DeleteFailed when the bucket refused a key.
    /// </summary>
    public void DeleteContentDirectory(string relativeDir)
        => DeleteKeys(Client.ListObjects(Keys.ContentDirPrefix(relativeDir)).Select(o => o.Key).ToList());

    private void DeleteKeys(List<string> keys)
    {
        for (var i = 0; i < keys.Count; i += S3Client.MaxDeleteBatch)
        {
            var errors = Client.DeleteObjects(keys.GetRange(i, Math.Min(S3Client.MaxDeleteBatch, keys.Count - i)));
            if (errors.Count > 0)
                throw new PbsException("S3DeleteFailed", PbsErrorKind.WriteError,
                    $"bucket '{Client.Bucket}' refused to delete {errors.Count} object(s), first '{errors[0].Key}' - {errors[0].Code}: {errors[0].Message}",
                    errors[0].Key);
        }
    }

    internal static void WriteMarker(string path) => AtomicFile.Replace(path, ReadOnlySpan<byte>.Empty, owner: BackupOwner.ForNewFiles());

    public void Dispose()
    {
        _local.Dispose();
        Client.Dispose();
    }

    public override string ToString() => $"{Name} ({BasePath}, bucket {Client.Bucket})";
}
