using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Native;
using PbsDatastore.Core.Store;

namespace PbsDatastore.Core.Maintenance;

public static partial class GarbageCollection
{
    /// <summary>
    /// What phase 1 found: the figures PBS counts, the referenced digests (one 32-byte slot per unique chunk, see
    /// <see cref="ChunkMarkSet"/>) and the digests whose chunk file is missing.
    /// </summary>
    internal sealed class MarkResult
    {
        public long IndexFileCount, IndexDataBytes, IndexEntries, StrangePaths;
        public readonly ChunkMarkSet Referenced = new();
        public IReadOnlyList<MissingChunk> Missing = [];
        public readonly HashSet<ChunkDigest> MissingDigests = new();
        public long UniqueChunks => Referenced.Count;
    }

    private const int TouchBatchSize = 2048;
    private const int MaxRewalks = 10;

    private sealed class TouchBatch
    {
        public readonly ChunkDigest[] Keys = new ChunkDigest[TouchBatchSize];
        public readonly int[] Images = new int[TouchBatchSize];
        public readonly long[] Entries = new long[TouchBatchSize];
        public int Count;
    }

    private readonly record struct MissingRef(int Image, long Entry, ChunkDigest Key);

    /// <summary>
    /// Phase 1 (§7.2, §7.3; addendum §2.3): walk for index files, read each, and touch every chunk the first time its
    /// digest is seen (PBS ≥ 3.3.5's touch-once behaviour with an unbounded cache). Reading and de-duplication run on
    /// this thread; the touches run on worker threads. A dry run checks existence instead of touching.
    /// If an index vanished meanwhile (prune, or a group moved by PBS ≥ 4.1.9), the walk is repeated until it finds no
    /// index it has not marked, so a moved index is marked under its new path. Last, PBS ≥ 4.1.9's move journal is
    /// drained (addendum §5.3): a snapshot moved from a part of the tree the walk had not reached yet into one it had
    /// passed is marked from there.
    /// </summary>
    internal static MarkResult Mark(IDatastoreBackend store, GarbageCollectionOptions options, ITaskState state)
    {
        var result = new MarkResult();
        var images = new List<IndexImage>(IndexImageWalk.List(store, state));
        var processed = new HashSet<string>(StringComparer.Ordinal);
        using var touchers = new Touchers(store, options.DryRun, Parallelism(options), state.Cancellation);
        var current = touchers.Rent();
        var lastPercent = 0;
        byte[]? spare = null;

        // Marks images[start..]; false when one of them had vanished.
        bool MarkImages(int start)
        {
            var complete = true;
            for (var i = start; i < images.Count; i++)
            {
                state.CheckAbort();
                if (touchers.Failure is not null) break;
                var image = images[i];
                processed.Add(Encoding.Latin1.GetString(image.RelativePathBytes));
                var display = Path.Combine(store.BasePath, image.RelativePath);
                var data = ReadIndexFile(store, image.RelativePathBytes, display, spare);
                if (data is null)
                {
                    complete = false;
                    continue;
                }
                IndexFile index;
                try { index = IndexFile.Parse(data, display); }
                catch (PbsException e) { throw IndexUnreadable(display, e.Message, e); }
                var entries = QueueFirstSeen(index.EntryBytes, index.EntrySize, i, result.Referenced, ref current, touchers, state);
                var indexBytes = index.IndexBytes;
                spare = data;
                if (image.IsStrangePath) result.StrangePaths++;
                result.IndexFileCount++;
                result.IndexDataBytes += indexBytes;
                result.IndexEntries += entries;
                ReportMarked(state, i + 1, images.Count, ref lastPercent);
            }
            return complete;
        }

        MoveJournal? journal = null;
        try
        {
            for (var round = 0; ; round++)
            {
                var start = images.Count;
                if (round > 0)
                {
                    images.AddRange(IndexImageWalk.List(store, state).Where(x => !processed.Contains(Encoding.Latin1.GetString(x.RelativePathBytes))));
                    if (images.Count == start) break;
                }
                if (MarkImages(round == 0 ? 0 : start) || touchers.Failure is not null) break;
                if (round == MaxRewalks)
                    throw new PbsException("GcIndexesUnstable", PbsErrorKind.ResourceBusy,
                        $"index files keep vanishing while marking (walked {MaxRewalks + 1} times); cannot continue garbage-collection safely", store.BasePath);
            }
            if (touchers.Failure is null && options.ConfiguredName is { } name && (journal = MoveJournal.Open(name, store.BasePath, options.DryRun)) is not null)
            {
                var start = images.Count;
                images.AddRange(journal.IndexPaths.Select(IndexImage.FromJournal).Where(x => !processed.Contains(Encoding.Latin1.GetString(x.RelativePathBytes))));
                if (images.Count > start)
                    state.Log($"marking {images.Count - start} index files listed in the move journal");
                MarkImages(start); // entries of moves that failed may name nothing: skipped as PBS does
            }
            if (current.Count > 0 && touchers.Failure is null)
                touchers.Post(current);
        }
        catch (OperationCanceledException) when (touchers.Failure is not null || state.Cancellation.IsCancellationRequested) { }
        catch
        {
            journal?.Dispose();
            throw;
        }
        finally
        {
            touchers.Complete();
            state.Complete(Phase1Activity, Phase1Title);
        }
        using (journal)
        {
            if (touchers.Failure is { } failure) throw failure;
            state.CheckAbort();
            // Only now is every journal entry marked: emptied under the same lock, as PBS does.
            journal?.Truncate();
        }

        var ordered = touchers.Missing.OrderBy(m => m.Image).ThenBy(m => m.Entry).ToList();
        var list = new List<MissingChunk>(ordered.Count);
        foreach (var m in ordered)
        {
            var path = Path.Combine(store.BasePath, images[m.Image].RelativePath);
            var digest = m.Key.ToString();
            result.MissingDigests.Add(m.Key);
            list.Add(new MissingChunk(digest, path));
            state.Warn($"warning: unable to access non-existent chunk {digest}, required by {RustDebug.Quote(path)}");
        }
        result.Missing = list;
        return result;
    }

    /// <summary>
    /// The hot loop of phase 1: every entry of one index against the mark set; digests seen for the first time go
    /// into the touch batch. Returns the number of entries.
    /// </summary>
    private static long QueueFirstSeen(ReadOnlySpan<byte> entries, int stride, int image, ChunkMarkSet referenced,
        ref TouchBatch current, Touchers touchers, ITaskState state)
    {
        long entry = 0;
        for (var off = stride - ChunkDigest.Size; off < entries.Length; off += stride, entry++)
        {
            var bytes = entries.Slice(off, ChunkDigest.Size);
            if (!referenced.Add(bytes)) continue;
            var batch = current;
            batch.Keys[batch.Count] = new ChunkDigest(bytes);
            batch.Images[batch.Count] = image;
            batch.Entries[batch.Count] = entry;
            if (++batch.Count == TouchBatchSize)
            {
                touchers.Post(batch);
                state.CheckAbort();
                current = touchers.Rent();
            }
        }
        return entry;
    }

    private const string Phase1Title = "Garbage collection phase 1: mark used chunks";

    /// <summary>
    /// Worker threads touching batches of first-seen digests. When the queue is full the marking thread touches the
    /// batch itself instead of waiting for a slot: on a loaded machine every wake-up costs a time slice, and a
    /// marker that never sleeps keeps phase 1 at the pace of one thread doing all the work, or better.
    /// </summary>
    private sealed class Touchers : IDisposable
    {
        private readonly IDatastoreBackend _store;
        private readonly bool _dryRun;
        private readonly BlockingCollection<TouchBatch> _queue;
        private readonly ConcurrentBag<TouchBatch> _pool = new();
        private readonly CancellationTokenSource _stop;
        private readonly Task[] _workers;
        private Exception? _failure;

        public Touchers(IDatastoreBackend store, bool dryRun, int workers, CancellationToken cancellation)
        {
            _store = store;
            _dryRun = dryRun;
            _queue = new BlockingCollection<TouchBatch>(boundedCapacity: 2 * workers);
            _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            _workers = Enumerable.Range(0, workers).Select(_ => Task.Factory.StartNew(Work, TaskCreationOptions.LongRunning)).ToArray();
        }

        /// <summary>References whose chunk file is missing, as the touches found them.</summary>
        public ConcurrentQueue<MissingRef> Missing { get; } = new();

        /// <summary>The first error of a worker (the run must fail).</summary>
        public Exception? Failure => Volatile.Read(ref _failure);

        public TouchBatch Rent() => _pool.TryTake(out var batch) ? batch : new TouchBatch();

        public void Post(TouchBatch batch)
        {
            if (!_queue.TryAdd(batch)) Touch(batch);
        }

        /// <summary>Lets the workers finish what was posted (or stop, when cancelled) and waits for them.</summary>
        public void Complete()
        {
            _queue.CompleteAdding();
            Task.WaitAll(_workers);
        }

        public void Dispose()
        {
            _queue.Dispose();
            _stop.Dispose();
        }

        private void Touch(TouchBatch batch)
        {
            TouchAll(_store, batch, _dryRun, Missing);
            batch.Count = 0;
            _pool.Add(batch);
        }

        private void Work()
        {
            try
            {
                foreach (var batch in _queue.GetConsumingEnumerable(_stop.Token))
                    Touch(batch);
            }
            catch (OperationCanceledException) { }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _failure, e, null);
                _stop.Cancel();
            }
        }
    }

    private static void ReportMarked(ITaskState state, int position, int total, ref int lastPercent)
    {
        var percent = (int)((long)position * 100 / total);
        state.Progress(Phase1Activity, Phase1Title, $"{position} of {total} index files", percent);
        if (percent > lastPercent)
        {
            lastPercent = percent;
            state.Log($"marked {percent}% ({position} of {total} index files)");
        }
    }

    /// <summary>Touches (or, in a dry run, checks) each chunk of the batch; a missing chunk's <c>.N.bad</c> files are touched too.</summary>
    private static void TouchAll(IDatastoreBackend store, TouchBatch batch, bool dryRun, ConcurrentQueue<MissingRef> missing)
    {
        for (var i = 0; i < batch.Count; i++)
        {
            var errno = dryRun ? store.StatChunk(batch.Keys[i], default, out _) : store.TouchChunk(batch.Keys[i], default);
            if (errno == 0) continue;
            if (errno != Libc.ENOENT) throw TouchFailed(store, batch.Keys[i], "", errno);
            missing.Enqueue(new MissingRef(batch.Images[i], batch.Entries[i], batch.Keys[i]));
            if (dryRun) continue;
            for (var n = 0; n < ChunkLayout.BadSuffixes.Length; n++)
            {
                errno = store.TouchChunk(batch.Keys[i], ChunkLayout.BadSuffixes[n]);
                if (errno != 0 && errno != Libc.ENOENT) throw TouchFailed(store, batch.Keys[i], $".{n}.bad", errno);
            }
        }
    }

    private static PbsException TouchFailed(IDatastoreBackend store, in ChunkDigest digest, string suffix, int errno)
    {
        var path = store.ChunkPath(digest, suffix);
        return new PbsException("GcTouchFailed", PbsErrorKind.WriteError,
            $"update atime failed for chunk/file {RustDebug.Quote(path)} - {Libc.StrError(errno)}", path);
    }

    /// <summary>
    /// PBS ≥ 3.3.7's check that the storage really updates atimes (addendum §2.4): without it a file system that
    /// ignores atime updates would let the sweep delete chunks in use.
    /// </summary>
    private static void CheckAtimeUpdates(IDatastoreBackend store, GarbageCollectionOptions options, ITaskState state)
    {
        if (options.SkipAtimeCheck)
        {
            state.Warn("access time safety check skipped on request: if this file system does not update access times, garbage collection deletes chunks still in use");
            return;
        }
        if (!options.ConfiguredAtimeSafetyCheck)
        {
            state.Log("Access time update check disabled by datastore tuning options.");
            return;
        }
        store.CheckAtimeUpdates();
    }
}
