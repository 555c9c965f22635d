using System.Diagnostics;
using System.Text;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Locking;
using PbsDatastore.Core.Memory;
using PbsDatastore.Core.Native;
using PbsDatastore.Core.S3;
using PbsDatastore.Core.Store;

namespace PbsDatastore.Core.Maintenance;

public static partial class GarbageCollection
{
    /// <summary>
    /// PBS 4.2 flushes its delete queue at 100 keys or when its oldest entry is 5 minutes old (§4.6). The queue
    /// here holds up to S3's 1,000 keys per DeleteObjects, a tenth of the requests for the same deletes under the
    /// same flocks (held only until the request returns); the 5-minute rule is PBS's.
    /// </summary>
    private const int S3DeleteQueueLimit = S3Client.MaxDeleteBatch;
    private static readonly TimeSpan S3DeleteQueueAge = TimeSpan.FromMinutes(5);

    /// <summary>
    /// PBS 4.2's garbage collection of an S3 store (addendum §4.6): the bucket must answer a HEAD; phase 1 marks on
    /// the local cache and leaves a `DIGEST.using` marker (under the chunk flock) for a referenced chunk that has
    /// neither a local file nor a `.bad` file; phase 2 lists `STORE/.chunks/` and judges each object by its local
    /// file's atime (a `.using` marker becomes an empty marker and keeps it; no local file means unreferenced),
    /// deleting with batched DeleteObjects while each key's chunk flock is held (a busy chunk is skipped);
    /// phase 3 removes leftover `.using` markers and stale local files of objects no longer in the bucket.
    /// A dry run (-WhatIf) locks, touches, creates and deletes nothing and lists the keys it would delete.
    /// </summary>
    private static GarbageCollectionResult RunS3(S3Backend store, GarbageCollectionOptions options, ITaskState state)
    {
        var cutoff = ValidateCutoff(options.EffectiveAtimeCutoff);
        var storePath = store.BasePath;
        var name = options.DatastoreName ?? store.Name;
        var client = store.Client;
        var requestsBefore = client.Counters.Snapshot();
        ProcessLocker? locker = null;
        IDisposable? exclusive = null;
        if (options.DryRun)
            state.Log("Dry run: nothing is touched, created or deleted, locally or in the bucket; the figures are what a garbage collection started now would report");
        else
        {
            locker = ProcessLocker.For(storePath);
            exclusive = locker.TryExclusive();
        }
        try
        {
            client.HeadBucket();
            if (!options.DryRun) CheckAtimeUpdates(store, options, state);
            var upid = options.DryRun ? null : Upid.Create(WorkerType, name, options.AuthId).ToString();
            var phase1Start = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            var oldestWriter = locker?.OldestSharedGuardTime ?? phase1Start;
            var minAtime = phase1Start - (long)cutoff.TotalSeconds;
            if (oldestWriter < minAtime) minAtime = oldestWriter - 300;

            state.Log("Start GC phase1 (mark used chunks)");
            Stopwatch? sw = null;
            // Phase 2 lists the bucket: a dry run in several marking passes lists each pass's slice of it (its
            // prefix directories' keys, a contiguous run), so that the requests grow by at most a page per pass.
            var (mark, sweep) = MarkAndSweep(store, options, state,
                m => new S3Sweep(store, options.DryRun, m, minAtime, oldestWriter, phase1Start, list: false, state), () =>
            {
                state.Log("Start GC phase2 (sweep unused chunks)");
                sw = Stopwatch.StartNew();
            }, out var phase1, options.DryRun ? null : m => CreateUsingMarkers(store, m));
            if (!options.DryRun) CleanLocalCache(store, minAtime, state);
            // A dry run in several passes sweeps within phase 1, which then includes its first sweep.
            var phase2 = sw?.Elapsed ?? TimeSpan.Zero;

            return Conclude(storePath, name, options, state, upid, mark, sweep.Totals, new RunTimes(phase1Start, minAtime, cutoff, phase1, phase2),
                bucket: client.Bucket, s3Requests: client.Counters.Snapshot() - requestsBefore, s3RemovedKeys: sweep.RemovedKeys);
        }
        finally
        {
            exclusive?.Dispose();
        }
    }

    /// <summary>
    /// The chunk objects of an S3 store no index references, judged as a collection started now would judge them
    /// (its dry run's phases 1 and 2): size from the bucket listing, atime from the cache's file (the epoch when the
    /// cache has none: such an object is deleted by the next collection). Read-only, like the dry run.
    /// </summary>
    private static IReadOnlyList<UnreferencedChunk> FindUnreferencedObjects(S3Backend store, GarbageCollectionOptions options, ITaskState state)
    {
        var cutoff = ValidateCutoff(options.EffectiveAtimeCutoff);
        store.Client.HeadBucket();
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var (_, sweep) = MarkAndSweep(store, options with { DryRun = true }, state,
            m => new S3Sweep(store, dryRun: true, m, now - (long)cutoff.TotalSeconds, now, now, list: true, state), null, out _);
        return sweep.Unreferenced!;
    }

    /// <summary>
    /// The phase 1 → phase 2 hand-over: a referenced chunk with no local file and no local `.bad` file gets an
    /// empty `DIGEST.using` (checked again under its flock), so that phase 2 keeps its object.
    /// </summary>
    private static void CreateUsingMarkers(S3Backend store, MarkResult mark)
    {
        foreach (var digest in mark.MissingDigests)
        {
            using var chunkLock = store.LockChunk(digest, S3Backend.ChunkLockTimeout);
            if (store.StatChunk(digest, default, out _) != Libc.ENOENT) continue;
            if (ChunkLayout.BadSuffixes.Any(s => store.StatChunk(digest, s, out _) == 0)) continue;
            S3Backend.WriteMarker(store.UsingMarkerPath(digest));
        }
    }

    /// <summary>
    /// Phase 3 on the cache: leftover `.using` markers go (their chunk is not in the bucket), and chunk files or
    /// `.bad` files older than the cutoff that phase 2 did not meet (no object) go when their flock is free.
    /// </summary>
    private static void CleanLocalCache(S3Backend store, long minAtime, ITaskState state)
    {
        for (var prefix = 0; prefix < ChunkLayout.PrefixCount; prefix++)
        {
            state.CheckAbort();
            if (store.OpenChunkDirectory(prefix, out var directory) != 0) continue;
            using (directory)
            {
                var entries = directory!;
                while (entries.MoveNext())
                {
                    var entryName = entries.Name;
                    if (!ChunkLayout.TryParseLowerHex(entryName, out var digest)) continue;
                    var isUsing = entryName.Length == 70 && entryName.EndsWith(S3Backend.UsingSuffix);
                    if (!isUsing && !ChunkLayout.IsChunkName(entryName, out _)) continue;
                    if (entries.Stat(out var st) != 0 || !st.IsRegularFile) continue;
                    if (!isUsing && st.AtimeSeconds >= minAtime) continue;
                    using var chunkLock = store.TryLockChunk(digest);
                    if (chunkLock is null) continue;
                    if (entries.Remove() is var errno && errno != 0 && errno != Libc.ENOENT)
                        state.Warn($"unable to remove \"{Path.Combine(store.BasePath, ChunkLayout.ChunkDirName, ChunkLayout.PrefixDirName(prefix), Encoding.UTF8.GetString(entryName))}\" - {Libc.StrError(errno)}");
                }
            }
        }
    }

    /// <summary>Phase 2 of an S3 store: the bucket listing judged by the cache's atimes, deletes batched.</summary>
    private sealed class S3Sweep(S3Backend store, bool dryRun, MarkResult mark, long minAtime, long oldestWriter, long phase1Start,
        bool list, ITaskState state) : ISliceSweep
    {
        private readonly List<string> _queue = new();
        // Flocks of queued keys, by digest: a chunk and its .N.bad share one, held until their delete completed.
        private readonly Dictionary<ChunkDigest, FlockHandle> _held = new();
        private readonly List<string> _removedKeys = new();
        private readonly Stopwatch _queueAge = new();

        public long DiskBytes, DiskChunks, RemovedChunks, RemovedChunkBytes, RemovedBad, RemovedBadBytes;
        public long PendingChunks, PendingChunkBytes, StillBad, PendingBadBytes;

        public SweepTotals Totals => new(DiskBytes, DiskChunks, RemovedChunks, RemovedChunkBytes, RemovedBad, RemovedBadBytes,
            PendingChunks, PendingChunkBytes, StillBad, PendingBadBytes);

        /// <summary>Keys deleted from the bucket (in a dry run: that would be).</summary>
        public IReadOnlyList<string> RemovedKeys => _removedKeys;

        /// <summary>With <c>list</c> (a dry run): every object a real run's phase 1 would not touch.</summary>
        public List<UnreferencedChunk>? Unreferenced { get; } = list ? new() : null;

        /// <summary>Judges the objects of the prefix directories of <paramref name="range"/>, deleting as it goes.</summary>
        public void Run(DigestRange range)
        {
            try
            {
                foreach (var obj in store.ListChunkObjects(range))
                {
                    state.CheckAbort();
                    if (store.Keys.ParseChunkKey(obj.Key) is not { } chunk) continue;
                    Judge(chunk, obj.Size);
                    if (_queue.Count >= S3DeleteQueueLimit || (_queue.Count > 0 && _queueAge.Elapsed >= S3DeleteQueueAge)) Flush();
                }
                Flush();
            }
            finally
            {
                ReleaseQueued();
            }
        }

        private void Judge(S3ChunkObject chunk, long size)
        {
            var bad = chunk.BadIndex is not null;
            FlockHandle? chunkLock = null;
            if (!dryRun && !_held.ContainsKey(chunk.Digest) && (chunkLock = store.TryLockChunk(chunk.Digest)) is null)
                return; // busy: someone is at work on it
            var queued = false;
            try
            {
                var local = chunk.LocalPath(store.BasePath);
                long atime;
                var errno = Libc.TryLstat(local, out var st);
                if (errno == 0)
                    atime = st.IsRegularFile ? st.Atime.Seconds : phase1Start; // not a plain file: never a reason to delete
                else if (errno != Libc.ENOENT)
                {
                    state.Warn($"unable to stat \"{local}\" - {Libc.StrError(errno)}; keeping object '{chunk.Key}'");
                    return;
                }
                else if (!bad && File.Exists(store.UsingMarkerPath(chunk.Digest)))
                {
                    if (!dryRun)
                    {
                        S3Backend.WriteMarker(local);
                        File.Delete(store.UsingMarkerPath(chunk.Digest));
                    }
                    atime = phase1Start;
                }
                else atime = 0; // no local trace: unreferenced
                if (dryRun && (bad ? mark.MissingDigests.Contains(chunk.Digest) : mark.Referenced!.Contains(chunk.Digest)))
                    atime = oldestWriter; // phase 1 of a real run would have touched it: in use
                else
                    // Every object no index references, however fresh its atime (as on a filesystem store): a real
                    // run would keep a fresh one, and WouldRemoveNow says so.
                    Unreferenced?.Add(new UnreferencedChunk
                    {
                        Digest = chunk.Digest.ToString(),
                        Name = chunk.FileName,
                        Path = local,
                        Size = size,
                        Atime = DateTimeOffset.FromUnixTimeSeconds(atime).LocalDateTime,
                        IsBad = bad,
                        WouldRemoveNow = atime < minAtime,
                    });
                if (atime < minAtime)
                {
                    if (!dryRun)
                    {
                        if (errno == 0 && Libc.Unlink(local) != 0 && Libc.LastErrno != Libc.ENOENT)
                            state.Warn($"unable to remove \"{local}\" - {Libc.StrError(Libc.LastErrno)}");
                        if (_queue.Count == 0) _queueAge.Restart();
                        _queue.Add(chunk.Key);
                        if (chunkLock != null) _held[chunk.Digest] = chunkLock;
                        queued = true;
                    }
                    _removedKeys.Add(chunk.Key);
                    if (bad) { RemovedBad++; RemovedBadBytes += size; }
                    else { RemovedChunks++; RemovedChunkBytes += size; }
                }
                else if (atime < oldestWriter)
                {
                    if (bad) { StillBad++; PendingBadBytes += size; }
                    else { PendingChunks++; PendingChunkBytes += size; }
                }
                else
                {
                    if (!bad) DiskChunks++;
                    DiskBytes += size;
                }
            }
            finally
            {
                if (!queued) chunkLock?.Dispose();
            }
        }

        /// <summary>One DeleteObjects request for the queue; the flocks are released only after it.</summary>
        private void Flush()
        {
            if (_queue.Count == 0) return;
            try
            {
                var errors = store.Client.DeleteObjects(_queue);
                if (errors.Count > 0)
                    throw new PbsException("GcS3DeleteFailed", PbsErrorKind.WriteError,
                        $"failed to delete {errors.Count} objects from bucket '{store.Client.Bucket}', first '{errors[0].Key}' - {errors[0].Code}: {errors[0].Message}",
                        errors[0].Key);
            }
            finally
            {
                ReleaseQueued();
            }
        }

        private void ReleaseQueued()
        {
            foreach (var held in _held.Values) held.Dispose();
            _held.Clear();
            _queue.Clear();
        }
    }
}
