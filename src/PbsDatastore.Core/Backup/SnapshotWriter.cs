using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using System.Security.Cryptography;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Locking;
using PbsDatastore.Core.Native;
using PbsDatastore.Core.Store;

namespace PbsDatastore.Core.Backup;

/// <summary>One archive of a snapshot as it was written.</summary>
public sealed record ArchiveWriteResult(
    string Name,
    ArchiveType Type,
    CryptMode CryptMode,
    long Size,
    string Csum,
    int ChunkCount,
    int NewChunks,
    int ReusedChunks,
    long StoredBytes,
    TimeSpan Elapsed)
{
    /// <summary>Input megabytes (10^6 bytes) per second.</summary>
    public double MegabytesPerSecond => Elapsed.TotalSeconds > 0 ? Size / 1e6 / Elapsed.TotalSeconds : 0;
}

/// <summary>
/// Writes one new snapshot the way a PBS backup session does (§6.4): exclusive group lock (creating the group
/// and its owner), shared lock on the base snapshot, new snapshot directory locked exclusively, a shared chunk-store
/// lock for the whole session, chunks inserted with PBS's rules, indexes and blobs, and the manifest last. Until
/// <see cref="Finish"/> succeeds the snapshot has no manifest, so it never looks finished; disposing an unfinished
/// writer removes the snapshot directory as PBS's forced destroy does after a failed backup.
/// </summary>
public sealed class SnapshotWriter : IDisposable
{
    public const int DefaultChunkSize = 4 << 20;

    /// <summary>Chunk sizes PBS's client accepts (64 KiB … 4 MiB, powers of two).</summary>
    public static IReadOnlyList<int> AllowedChunkSizes { get; } = [64 << 10, 128 << 10, 256 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20];

    private readonly Datastore _store;
    private readonly BackendLease _lease;
    private readonly IDatastoreBackend _chunks;
    private readonly CryptConfig? _crypt;
    private readonly ITaskState _state;
    private readonly List<IDisposable> _locks = new();
    private readonly List<ManifestFile> _files = new();
    private readonly ConcurrentDictionary<ChunkDigest, byte> _known = new();
    private readonly ConcurrentDictionary<int, ChunkDigest> _zeroDigests = new();
    private BackupManifest? _baseManifest;
    private BackupSnapshot? _base;
    private long _uploadCount, _uploadDuplicates, _uploadSize, _uploadCompressed;
    private bool _finished;
    private int _activity = 1;

    private SnapshotWriter(Datastore store, CryptConfig? crypt, ITaskState state)
    {
        _store = store;
        _lease = store.LeaseBackend();
        _chunks = _lease.Backend;
        _crypt = crypt;
        _state = state;
    }

    public BackupSnapshot Snapshot { get; private set; } = null!;
    public IReadOnlyList<ArchiveWriteResult> Archives => _results;
    private readonly List<ArchiveWriteResult> _results = new();

    private CryptMode Mode => _crypt is null ? CryptMode.None : CryptMode.Encrypt;

    /// <summary>
    /// Starts a snapshot of group <paramref name="type"/>/<paramref name="id"/> in <paramref name="ns"/> at
    /// <paramref name="backupTime"/> (epoch seconds). A new group gets <paramref name="owner"/>; an existing one
    /// must already belong to it (PBS's owner check).
    /// </summary>
    public static SnapshotWriter Begin(Datastore store, BackupNamespace ns, BackupType type, string id, long backupTime,
        Authid owner, CryptConfig? crypt, ITaskState state)
    {
        var writer = new SnapshotWriter(store, crypt, state);
        try
        {
            writer.Start(ns, type, id, backupTime, owner);
            return writer;
        }
        catch
        {
            writer.Dispose();
            throw;
        }
    }

    private void Start(BackupNamespace ns, BackupType type, string id, long backupTime, Authid owner)
    {
        // A backup is a write (refused in read-only maintenance); on S3 it reaches the bucket (chunks, files, owner).
        _store.CheckOperation(DatastoreOperation.Write);
        // §6.4: group lock (creating group and owner), base snapshot shared, new snapshot exclusive.
        var (group, groupLock, groupOwner) = BackupTarget.CreateLockedGroup(_store, ns, type, id, owner);
        _locks.Add(groupLock);
        if (!groupOwner.Permits(owner))
            throw new PbsException("BackupOwnerMismatch", PbsErrorKind.PermissionDenied,
                $"backup owner check failed ({owner} != {groupOwner})", group.ToString());

        // The newest finished snapshot is the base unless its verification failed (PBS then starts afresh).
        var last = group.ListSnapshots().LastOrDefault(s => s.IsFinished);
        var lastManifest = last is null ? null : BackupManifest.Load(last.ManifestPath);
        if (last != null && lastManifest!.VerifyState?.State != "failed")
        {
            if (backupTime <= last.Time)
                throw new PbsException("BackupTimeNotNewer", PbsErrorKind.InvalidArgument,
                    $"backup timestamp is older than last backup. ({BackupTime.Format(backupTime)} <= {last.DirectoryName})", group.ToString());
            _locks.Add(BackupLocks.LockSnapshot(last, exclusive: false, "base snapshot is already locked by another operation"));
            _base = last;
            _baseManifest = lastManifest;
        }

        var (snapshot, snapshotLock) = BackupTarget.CreateLockedSnapshot(group, backupTime);
        _locks.Add(snapshotLock);
        Snapshot = snapshot;
        // Held from before the first chunk until the manifest is written (PBS ≥ 4.0.16 does the same), so no GC
        // can sweep a chunk this session wrote but no finished index references yet.
        _locks.Add(ProcessLocker.For(_store.Path).TryShared());
        _state.Log($"starting new backup {snapshot}");
        if (_base != null)
            _state.Log($"base snapshot {_base.DirectoryName}");
    }

    /// <summary>
    /// Writes <paramref name="input"/> as the archive <paramref name="archiveName"/>, its type chosen by the name's
    /// last extension (see <see cref="ArchiveNames.ForInput"/>). A fixed index needs the input length.
    /// </summary>
    public ArchiveWriteResult AddArchive(string archiveName, Stream input, long? length, int chunkSize = DefaultChunkSize)
        => ArchiveNames.TypeOf(archiveName) switch
        {
            ArchiveType.FixedIndex => AddFixedIndex(archiveName, input, length ?? throw new PbsException("LengthRequired",
                PbsErrorKind.InvalidArgument, $"a fixed index needs the input length up front; {archiveName} comes from a stream without one", archiveName), chunkSize),
            ArchiveType.DynamicIndex => AddDynamicIndex(archiveName, input, chunkSize, length),
            _ => AddBlob(archiveName, input),
        };

    /// <summary>A fixed index (`*.img.fidx`): <paramref name="size"/> bytes cut into <paramref name="chunkSize"/> pieces.</summary>
    public ArchiveWriteResult AddFixedIndex(string archiveName, Stream input, long size, int chunkSize = DefaultChunkSize)
    {
        if (!AllowedChunkSizes.Contains(chunkSize))
            throw new PbsException("UnsupportedChunkSize", PbsErrorKind.InvalidArgument,
                $"Got unsupported chunk size '{chunkSize}'", chunkSize);
        if (size <= 0)
            throw new PbsException("EmptyImage", PbsErrorKind.InvalidArgument,
                $"a fixed index needs at least one byte (PBS cannot open an empty fixed index): {archiveName}", archiveName);
        var name = CheckNewArchive(archiveName, ArchiveType.FixedIndex);
        using var writer = FixedIndexWriter.Create(Path.Combine(Snapshot.FullPath, name), size, chunkSize);
        return WriteIndex(name, ArchiveType.FixedIndex, ChunkSource.Fixed(new LimitedStream(input, size), chunkSize, name), size,
            chunk => writer.AddChunk(chunk.End, chunk.Length, chunk.Digest), () => writer.Close(), expectedSize: size);
    }

    /// <summary>A dynamic index (`*.didx`) cut by PBS's chunker with average chunk size <paramref name="averageChunkSize"/>.</summary>
    public ArchiveWriteResult AddDynamicIndex(string archiveName, Stream input, int averageChunkSize = DefaultChunkSize, long? length = null)
    {
        if (!AllowedChunkSizes.Contains(averageChunkSize))
            throw new PbsException("UnsupportedChunkSize", PbsErrorKind.InvalidArgument,
                $"Got unsupported chunk size '{averageChunkSize}'", averageChunkSize);
        var name = CheckNewArchive(archiveName, ArchiveType.DynamicIndex);
        using var writer = DynamicIndexWriter.Create(Path.Combine(Snapshot.FullPath, name));
        return WriteIndex(name, ArchiveType.DynamicIndex, ChunkSource.Dynamic(input, averageChunkSize, name), length,
            chunk => writer.AddChunk(chunk.End, chunk.Digest), () => writer.Close(), expectedSize: null);
    }

    /// <summary>A blob archive (`*.blob`): the whole input as one DataBlob (compressed, encrypted with a key).</summary>
    public ArchiveWriteResult AddBlob(string archiveName, Stream input)
    {
        var name = CheckNewArchive(archiveName, ArchiveType.Blob);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var data = ReadWhole(input, name);
        var blob = DataBlob.Encode(data, _crypt, compress: true).Raw;
        var path = Path.Combine(Snapshot.FullPath, name);
        // PBS 4.2 uploads a blob to the bucket when it arrives, before its cache copy (addendum §4.7).
        _store.S3Mirror?.UploadContent($"{Snapshot.RelativePath}/{name}", blob.ToArray());
        AtomicFile.Replace(path, blob, owner: BackupOwner.ForNewFiles());
        var csum = Convert.ToHexStringLower(SHA256.HashData(blob));
        _files.Add(new ManifestFile(name, Mode, (ulong)blob.Length, csum));
        var result = new ArchiveWriteResult(name, ArchiveType.Blob, Mode, blob.Length, csum, 0, 0, 0, blob.Length,
            System.Diagnostics.Stopwatch.GetElapsedTime(started));
        _results.Add(result);
        _state.Log($"upload blob {name} ({data.Length} bytes, stored {blob.Length})");
        return result;
    }

    private string CheckNewArchive(string archiveName, ArchiveType type)
    {
        if (_finished)
            throw new PbsException("SnapshotFinished", PbsErrorKind.InvalidOperation, "the snapshot is already finished", Snapshot.ToString());
        ArchiveNames.Validate(archiveName);
        if (ArchiveNames.TypeOf(archiveName) != type)
            throw new PbsException("WrongArchiveType", PbsErrorKind.InvalidArgument,
                $"archive name \"{archiveName}\" does not name a {type}", archiveName);
        if (_files.Any(f => f.Filename == archiveName))
            throw new PbsException("DuplicateArchive", PbsErrorKind.ResourceExists,
                $"archive \"{archiveName}\" was already written to this snapshot", archiveName);
        _state.CheckAbort();
        return archiveName;
    }

    private sealed record ProcessedChunk(ChunkDigest Digest, long Start, int Length)
    {
        public long End => Start + Length;
    }

    private ArchiveWriteResult WriteIndex(string name, ArchiveType type, IEnumerable<RawChunk> chunks, long? total,
        Action<ProcessedChunk> add, Func<byte[]> close, long? expectedSize)
    {
        SeedKnownChunks(name);
        var counters = new ArchiveCounters();
        int count = 0;
        long size = 0;
        var progress = new TransferProgress(_state, _activity++, $"Writing {name}", total);
        try
        {
            OrderedPipeline.Run(chunks, raw => ProcessChunk(raw, counters), chunk =>
            {
                add(chunk);
                count++;
                size = chunk.End;
                progress.Add(chunk.Length);
            }, _state);
        }
        finally
        {
            progress.Complete();
        }
        if (count == 0)
            throw new PbsException("EmptyArchive", PbsErrorKind.InvalidArgument,
                $"{name} would be an index without chunks, which PBS cannot open (its GC aborts on one); store empty input as a blob", name);
        if (expectedSize is { } expected && size != expected)
            throw new PbsException("InputTooShort", PbsErrorKind.ReadError,
                $"input of {name} ended after {size} of {expected} bytes", name);
        var csum = Convert.ToHexStringLower(close());
        _files.Add(new ManifestFile(name, Mode, (ulong)size, csum));
        var result = new ArchiveWriteResult(name, type, Mode, size, csum, count, counters.Fresh, count - counters.Fresh, counters.Stored, progress.Elapsed);
        _results.Add(result);
        _state.Log($"{name}: {size} bytes, {count} chunks ({counters.Fresh} new, {counters.Stored} bytes stored) in {progress.Elapsed.TotalSeconds:F2} s, {result.MegabytesPerSecond:F2} MB/s");
        return result;
    }

    /// <summary>
    /// The client's known chunks: digests of the same archive in the base snapshot (same crypt mode and key) need
    /// no upload, as PBS's client skips them; so do digests already uploaded in this session.
    /// </summary>
    private void SeedKnownChunks(string name)
    {
        if (_base is null || _baseManifest is null)
            return;
        var entry = _baseManifest.Files.FirstOrDefault(f => f.Filename == name);
        if (entry is null || entry.CryptMode != Mode || _baseManifest.KeyFingerprint != _crypt?.Fingerprint)
            return;
        IndexFile index;
        try { index = IndexFile.Open(Path.Combine(_base.FullPath, name)); }
        catch (PbsException e)
        {
            _state.Warn($"base snapshot index {name} unusable, uploading all chunks: {e.Message}");
            return;
        }
        for (var i = 0; i < index.Count; i++)
            _known.TryAdd(index.DigestAt(i), 0);
    }

    /// <summary>Per-archive figures, updated by the chunk workers.</summary>
    private sealed class ArchiveCounters
    {
        public int Fresh;
        public long Stored;
    }

    private ProcessedChunk ProcessChunk(RawChunk raw, ArchiveCounters counters)
    {
        try
        {
            var data = raw.Data;
            // Zero chunks (sparse disk images) are common: their digest is computed once per length.
            var digest = data.IndexOfAnyExcept((byte)0) < 0
                ? _zeroDigests.GetOrAdd(raw.Length, len => Digest(new byte[len]))
                : Digest(data);
            if (_known.TryAdd(digest, 0))
            {
                var blob = DataBlob.Encode(data, _crypt, compress: true);
                var inserted = _chunks.InsertChunk(digest, blob, _state);
                Interlocked.Increment(ref counters.Fresh);
                Interlocked.Add(ref counters.Stored, inserted.Duplicate ? 0 : inserted.EncodedSize);
                Interlocked.Increment(ref _uploadCount);
                if (inserted.Duplicate) Interlocked.Increment(ref _uploadDuplicates);
                Interlocked.Add(ref _uploadSize, raw.Length);
                Interlocked.Add(ref _uploadCompressed, inserted.EncodedSize);
            }
            return new ProcessedChunk(digest, raw.Start, raw.Length);
        }
        finally
        {
            raw.Return();
        }
    }

    private ChunkDigest Digest(ReadOnlySpan<byte> data) => new(DataBlob.ComputeDigest(data, _crypt));

    private static byte[] ReadWhole(Stream input, string name)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        try
        {
            int n;
            while ((n = input.Read(chunk)) > 0)
            {
                if (buffer.Length + n > ArchiveNames.MaxBlobSize)
                    throw new PbsException("BlobTooLarge", PbsErrorKind.InvalidArgument,
                        $"data blob too large ({buffer.Length + n}+ bytes): {name}", name);
                buffer.Write(chunk, 0, n);
            }
        }
        catch (IOException e)
        {
            throw new PbsException("InputReadFailed", PbsErrorKind.ReadError, $"reading '{name}' failed: {e.Message}", name, e);
        }
        return buffer.ToArray();
    }

    /// <summary>Writes the manifest (the snapshot is finished from then on) and releases the locks.</summary>
    public BackupSnapshot Finish()
    {
        if (_finished)
            throw new PbsException("SnapshotFinished", PbsErrorKind.InvalidOperation, "the snapshot is already finished", Snapshot.ToString());
        _state.CheckAbort();
        var manifest = BackupManifest.Create(Snapshot.Type.ToPbsString(), Snapshot.Id, Snapshot.Time);
        foreach (var file in _files)
            manifest.AddFile(file);
        if (_crypt != null)
            manifest.Sign(_crypt);
        // What PBS's server adds when the backup finishes (outside the signed part).
        manifest.Unprotected["chunk_upload_stats"] = new JsonObject
        {
            ["compressed_size"] = _uploadCompressed,
            ["count"] = _uploadCount,
            ["duplicates"] = _uploadDuplicates,
            ["size"] = _uploadSize,
        };
        var blob = manifest.ToBlob().Raw;
        if (_store.S3Mirror is { } s3) UploadToBucket(s3, blob);
        AtomicFile.Replace(Snapshot.ManifestPath, blob, owner: BackupOwner.ForNewFiles());
        _finished = true;
        SyncFilesystem();
        _state.Log($"backup finished: {Snapshot} ({_files.Count} archives, {_uploadCount} chunks uploaded, {_uploadDuplicates} already present)");
        ReleaseLocks();
        return Snapshot;
    }

    /// <summary>
    /// PBS 4.2's backup finish on an S3 store (addendum §4.3): the indexes, written to the cache while the chunks
    /// were uploaded, go to the snapshot's `.cnt/` keys now, the manifest last, before its cache copy. Until the
    /// manifest object exists, neither the bucket nor the cache holds a snapshot that looks finished.
    /// </summary>
    private void UploadToBucket(S3.S3Backend s3, ReadOnlySpan<byte> manifest)
    {
        foreach (var file in _files.Where(f => ArchiveNames.TypeOf(f.Filename) != ArchiveType.Blob))
        {
            _state.CheckAbort();
            s3.UploadContent($"{Snapshot.RelativePath}/{file.Filename}", File.ReadAllBytes(Path.Combine(Snapshot.FullPath, file.Filename)));
        }
        s3.UploadContent($"{Snapshot.RelativePath}/{BackupSnapshot.ManifestFileName}", manifest.ToArray());
        _state.Log($"uploaded {_files.Count} archive(s) and the manifest to bucket '{s3.Client.Bucket}'");
    }

    /// <summary>
    /// Sync level `filesystem` (PBS's default, §12.3): syncfs(2) before the backup counts as done. Level `file`
    /// fsyncs each chunk at insert instead; `none` does neither.
    /// </summary>
    private void SyncFilesystem()
    {
        if (_store.Tuning.SyncLevel != SyncLevel.Filesystem)
            return;
        _state.Log("syncing filesystem");
        var fd = Libc.Open(_store.Path, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        if (fd < 0 || Libc.Syncfs(fd) != 0)
        {
            var errno = Libc.LastErrno;
            if (fd >= 0) Libc.Close(fd);
            throw new PbsException("SyncFailed", PbsErrorKind.WriteError, $"error during syncfs: {Libc.StrError(errno)}", _store.Path);
        }
        Libc.Close(fd);
    }

    /// <summary>Releases everything; an unfinished snapshot is removed first (forced destroy under our own lock).</summary>
    public void Dispose()
    {
        if (!_finished && Snapshot != null)
        {
            try
            {
                // The bucket first: objects of an unfinished snapshot must not outlive its cache directory.
                _store.S3Mirror?.DeleteContentDirectory(Snapshot.RelativePath);
                Directory.Delete(Snapshot.FullPath, recursive: true);
                _state.Warn($"removed unfinished snapshot {Snapshot}");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or PbsException)
            {
                _state.Warn($"could not remove unfinished snapshot {Snapshot}: {e.Message}");
            }
            _finished = true;
        }
        ReleaseLocks();
        _lease.Dispose();
    }

    private void ReleaseLocks()
    {
        // Reverse order of acquisition: chunk store, snapshot, base, group.
        for (var i = _locks.Count - 1; i >= 0; i--)
            _locks[i].Dispose();
        _locks.Clear();
    }
}
