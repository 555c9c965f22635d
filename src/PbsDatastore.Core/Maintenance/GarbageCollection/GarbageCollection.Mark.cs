using System.Runtime.CompilerServices;
using System.Text;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Memory;
using PbsDatastore.Core.Native;
using PbsDatastore.Core.Store;

namespace PbsDatastore.Core.Maintenance;

public static partial class GarbageCollection
{
    /// <summary>
    /// What phase 1 found: the figures PBS counts, the digests whose chunk file is missing, and the referenced
    /// digests of <see cref="Range"/> (one 32-byte slot per unique chunk, see <see cref="ChunkMarkSet"/>): of the
    /// whole digest space unless the marking was split into passes (<see cref="DigestPartitions"/>). A real run
    /// drops them before its sweep, which decides by atime alone.
    /// </summary>
    internal sealed class MarkResult
    {
        public long IndexFileCount, IndexDataBytes, IndexEntries, StrangePaths, UniqueChunks;
        public ChunkMarkSet? Referenced;
        public DigestRange Range = DigestRange.All;
        public List<MissingChunk> Missing = [];
        public readonly HashSet<ChunkDigest> MissingDigests = new();
        public int Passes;
        public long SetBytes;
    }

    private const int MaxRewalks = 10;

    /// <summary>
    /// Phase 1 over the whole digest space, in as many passes as <see cref="GarbageCollectionOptions.MemoryLimit"/>
    /// requires (see <see cref="MarkPass"/>). The move journal of each pass stays locked until the next pass
    /// starts, and only the last one empties it: every pass has then marked every move it lists.
    /// <paramref name="afterPass"/> runs after each pass, while that pass's <see cref="MarkResult.Referenced"/> is
    /// valid (the dry run and the listing sweep the chunk directories of its range there).
    /// </summary>
    internal static MarkResult Mark(IDatastoreBackend store, GarbageCollectionOptions options, ITaskState state, Action<MarkResult>? afterPass = null)
    {
        var result = new MarkResult();
        var images = new List<IndexImage>(IndexImageWalk.List(store, state));
        // Aligned to the 65536 prefix directories, so that a sweep of one pass's directories meets only its digests.
        var partitions = options.Partitions is { } count
            ? DigestPartitions.Fixed(count, DigestPartitions.PrefixDirectoryBits)
            : new DigestPartitions(options.MemoryLimit, ChunkMarkSet.MaxBytesPerDigest, IndexEntryBound(store, images), DigestPartitions.PrefixDirectoryBits);
        var buffer = new IndexBuffer();
        if (partitions.WantsEstimate)
            partitions.SetEstimate(EstimateUniqueChunks(store, images, partitions.MaxDigests, buffer, state));
        var ordinals = new Dictionary<string, int>(StringComparer.Ordinal);
        var missing = new List<(int Ordinal, long Entry, MissingChunk Chunk)>();
        MoveJournal? journal = null;
        try
        {
            long previousCount = 0;
            for (var range = partitions.Next(); range is { } r; range = partitions.Next(previousCount))
            {
                journal?.Dispose();
                journal = null;
                if (partitions.Passes > 1)
                    images = new List<IndexImage>(IndexImageWalk.List(store, state));
                journal = MarkSlice(store, options, state, images, result, r, partitions, ordinals, missing, buffer, out previousCount);
                afterPass?.Invoke(result);
            }
            state.CheckAbort();
            // Only now is every journal entry marked in every pass: emptied under the same lock, as PBS does.
            journal?.Truncate();
        }
        finally
        {
            journal?.Dispose();
        }
        foreach (var (_, _, chunk) in missing.OrderBy(m => m.Ordinal).ThenBy(m => m.Entry))
        {
            state.Warn($"warning: unable to access non-existent chunk {chunk.Digest}, required by {RustDebug.Quote(chunk.IndexPath)}");
            result.Missing.Add(chunk);
        }
        return result;
    }

    /// <summary>
    /// One marking pass in a set of its own. The previous pass's set is released first; no frame but this one ever
    /// holds a set, because unoptimised code (a method that runs once is never optimised) keeps every reference it
    /// loaded alive until it returns, and two sets at once would double the peak.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static MoveJournal? MarkSlice(IDatastoreBackend store, GarbageCollectionOptions options, ITaskState state, List<IndexImage> images,
        MarkResult result, DigestRange range, DigestPartitions partitions, Dictionary<string, int> ordinals,
        List<(int Ordinal, long Entry, MissingChunk Chunk)> missing, IndexBuffer buffer, out long count)
    {
        var pass = partitions.Passes;
        if (pass > 1)
        {
            result.Referenced = null;
            DigestPartitions.ReleaseSlice();
        }
        var referenced = result.Referenced = new ChunkMarkSet(partitions.ExpectedDigests, range);
        result.Range = range;
        if (!range.IsAll)
            state.Log($"marking pass {pass}: digests {range.First >> 48:x4}..{range.Last >> 48:x4}, about {partitions.ExpectedDigests} chunks");
        var journal = MarkPass(store, options, state, images, result, referenced, pass == 1, ordinals, missing, buffer);
        count = referenced.Count;
        result.UniqueChunks += count;
        result.SetBytes = Math.Max(result.SetBytes, referenced.AllocatedBytes);
        result.Passes = pass;
        return journal;
    }

    /// <summary>
    /// Reads every index once for a <see cref="DigestSample"/> of its digests: the first marking pass is then sized
    /// from the unique chunks, not from the entries (mostly repeats). A file that vanished or cannot be read is left
    /// out here; marking meets it again and handles it.
    /// </summary>
    private static long EstimateUniqueChunks(IDatastoreBackend store, IReadOnlyList<IndexImage> images, long entries,
        IndexBuffer buffer, ITaskState state)
    {
        var sample = new DigestSample(entries);
        foreach (var image in images)
        {
            state.CheckAbort();
            try
            {
                if (ReadIndex(store, image, image.RelativePath, buffer) is { } index) sample.AddEntries(index.EntryBytes, index.EntrySize);
            }
            catch (PbsException) { }
        }
        return sample.Estimate;
    }

    /// <summary>
    /// Index entries of the walked files from their sizes (an upper bound on the unique chunks): one statx per
    /// index file. A file that cannot be stat'ed counts nothing here; reading it later reports the error.
    /// </summary>
    private static long IndexEntryBound(IDatastoreBackend store, IReadOnlyList<IndexImage> images)
    {
        long entries = 0;
        foreach (var image in images)
            if (store.StatFile(image.RelativePathBytes, out var st) == 0)
                entries += Math.Max(0, st.Size - IndexFile.HeaderSize) / ChunkDigest.Size;
        return entries;
    }

    /// <summary>
    /// One pass of phase 1 (§7.2, §7.3; addendum §2.3) over the digests of <c>result.Range</c>: read each index
    /// file into the pass's set, then touch every chunk of the set once (PBS ≥ 3.3.5's touch-once behaviour with an
    /// unbounded cache). Touching comes after reading so that it can go a prefix directory at a time, several
    /// shards at once (see <see cref="TouchReferenced"/>); any order is safe, since the sweep starts only after it.
    /// A dry run checks existence instead of touching.
    /// If an index vanished meanwhile (prune, or a group moved by PBS ≥ 4.1.9), the walk is repeated until it finds no
    /// index it has not marked, so a moved index is marked under its new path. Last, PBS ≥ 4.1.9's move journal is
    /// drained (addendum §5.3): a snapshot moved from a part of the tree the walk had not reached yet into one it had
    /// passed is marked from there. Returns the journal, still locked. Figures are counted in the first pass only.
    /// </summary>
    private static MoveJournal? MarkPass(IDatastoreBackend store, GarbageCollectionOptions options, ITaskState state,
        List<IndexImage> images, MarkResult result, ChunkMarkSet referenced, bool count, Dictionary<string, int> ordinals,
        List<(int Ordinal, long Entry, MissingChunk Chunk)> missing, IndexBuffer buffer)
    {
        var processed = new HashSet<string>(StringComparer.Ordinal);
        var lastPercent = 0;

        // Marks images[start..]; false when one of them had vanished.
        bool MarkImages(int start)
        {
            var complete = true;
            for (var i = start; i < images.Count; i++)
            {
                state.CheckAbort();
                var image = images[i];
                processed.Add(Encoding.Latin1.GetString(image.RelativePathBytes));
                var display = Path.Combine(store.BasePath, image.RelativePath);
                var index = ReadIndex(store, image, display, buffer);
                if (index is null)
                {
                    complete = false;
                    continue;
                }
                var entries = result.Range.IsAll
                    ? AddReferences(index.EntryBytes, index.EntrySize, referenced, default(AllDigests))
                    : AddReferences(index.EntryBytes, index.EntrySize, referenced, new InRange(result.Range));
                if (count)
                {
                    if (image.IsStrangePath) result.StrangePaths++;
                    result.IndexFileCount++;
                    result.IndexDataBytes += index.IndexBytes;
                    result.IndexEntries += entries;
                }
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
                if (MarkImages(round == 0 ? 0 : start)) break;
                if (round == MaxRewalks)
                    throw new PbsException("GcIndexesUnstable", PbsErrorKind.ResourceBusy,
                        $"index files keep vanishing while marking (walked {MaxRewalks + 1} times); cannot continue garbage-collection safely", store.BasePath);
            }
            if (options.ConfiguredName is { } name && (journal = MoveJournal.Open(name, store.BasePath, options.DryRun)) is not null)
            {
                var start = images.Count;
                images.AddRange(journal.IndexPaths.Select(IndexImage.FromJournal).Where(x => !processed.Contains(Encoding.Latin1.GetString(x.RelativePathBytes))));
                if (images.Count > start)
                    state.Log($"marking {images.Count - start} index files listed in the move journal");
                MarkImages(start); // entries of moves that failed may name nothing: skipped as PBS does
            }
            var absent = TouchReferenced(store, referenced, options.DryRun, Parallelism(options), state);
            result.MissingDigests.UnionWith(absent);
            // Missing chunks are reported in walk order (of the first walk that met the index), as one pass would.
            foreach (var image in images)
                ordinals.TryAdd(Encoding.Latin1.GetString(image.RelativePathBytes), ordinals.Count);
            foreach (var (i, entry, digest) in FirstReferences(store, images, absent, buffer, state))
            {
                var image = images[i];
                missing.Add((ordinals[Encoding.Latin1.GetString(image.RelativePathBytes)], entry,
                    new MissingChunk(digest.ToString(), Path.Combine(store.BasePath, image.RelativePath))));
            }
            return journal;
        }
        catch
        {
            journal?.Dispose();
            throw;
        }
        finally
        {
            state.Complete(Phase1Activity, Phase1Title);
        }
    }

    /// <summary>
    /// The array phase 1 reads indexes into, one for the whole run (the estimate, every pass, the search for missing
    /// chunks): the indexes of one archive mostly have one length, and an array per reader would each stay until
    /// the runtime collects large objects, in the peak memory.
    /// </summary>
    private sealed class IndexBuffer
    {
        public byte[]? Bytes;
    }

    /// <summary>
    /// Reads and parses one index into <paramref name="buffer"/> (valid until the next read); null when it vanished.
    /// An index that cannot be parsed fails the run.
    /// </summary>
    private static IndexFile? ReadIndex(IDatastoreBackend store, IndexImage image, string display, IndexBuffer buffer)
    {
        var data = ReadIndexFile(store, image.RelativePathBytes, display, buffer.Bytes);
        if (data is null) return null;
        buffer.Bytes = data;
        try { return IndexFile.Parse(data, display); }
        catch (PbsException e) { throw IndexUnreadable(display, e.Message, e); }
    }

    /// <summary>Which digests a pass marks; a struct so that the JIT specialises the hot loop for each.</summary>
    private interface IDigestFilter
    {
        bool Includes(ReadOnlySpan<byte> digest);
    }

    private readonly struct AllDigests : IDigestFilter
    {
        public bool Includes(ReadOnlySpan<byte> digest) => true;
    }

    private readonly struct InRange(DigestRange range) : IDigestFilter
    {
        public bool Includes(ReadOnlySpan<byte> digest) => range.Contains(digest);
    }

    /// <summary>The hot loop of phase 1: every entry of one index into the mark set. Returns the number of entries.</summary>
    private static long AddReferences<TFilter>(ReadOnlySpan<byte> entries, int stride, ChunkMarkSet referenced, TFilter filter)
        where TFilter : struct, IDigestFilter
    {
        long entry = 0;
        for (var off = stride - ChunkDigest.Size; off < entries.Length; off += stride, entry++)
        {
            var bytes = entries.Slice(off, ChunkDigest.Size);
            if (filter.Includes(bytes)) referenced.Add(bytes);
        }
        return entry;
    }

    private const string Phase1Title = "Garbage collection phase 1: mark used chunks";

    /// <summary>
    /// Touches (in a dry run: checks) every chunk of the pass's set, one shard per worker and within it one prefix
    /// directory at a time: the directory is resolved once for its chunks, not once per chunk, and on a disk the
    /// chunks of a directory are read together. A missing chunk's <c>.N.bad</c> files are touched too, as PBS does.
    /// Returns the digests whose chunk is missing.
    /// </summary>
    private static List<ChunkDigest> TouchReferenced(IDatastoreBackend store, ChunkMarkSet referenced, bool dryRun, int workers, ITaskState state)
    {
        var absent = new List<ChunkDigest>();
        var done = 0;
        WorkerPool.For(ChunkMarkSet.ShardCount, state, () => new ShardBuffer(), (shard, buffer) =>
        {
            state.CheckAbort();
            var count = referenced.ShardSize(shard);
            var digests = buffer.Digests(count);
            var errnos = buffer.Errnos(count);
            referenced.CopyShard(shard, digests, buffer.Starts);
            for (var d = 0; d < ChunkMarkSet.DirectoriesPerShard; d++)
            {
                var range = buffer.Starts[d]..buffer.Starts[d + 1];
                var prefix = shard * ChunkMarkSet.DirectoriesPerShard + d;
                if (dryRun) store.StatChunks(prefix, digests[range], errnos[range], buffer.Stats(count)[range]);
                else store.TouchChunks(prefix, digests[range], errnos[range]);
            }
            for (var i = 0; i < count; i++)
            {
                if (errnos[i] == 0) continue;
                if (errnos[i] != Libc.ENOENT) throw TouchFailed(store, digests[i], "", errnos[i]);
                lock (absent) absent.Add(digests[i]);
                if (dryRun) continue;
                for (var n = 0; n < ChunkLayout.BadSuffixes.Length; n++)
                {
                    var errno = store.TouchChunk(digests[i], ChunkLayout.BadSuffixes[n]);
                    if (errno != 0 && errno != Libc.ENOENT) throw TouchFailed(store, digests[i], $".{n}.bad", errno);
                }
            }
            var finished = Interlocked.Increment(ref done);
            state.Progress(Phase1Activity, Phase1Title, $"touched the chunks of {finished} of {ChunkMarkSet.ShardCount} digest shards",
                finished * 100 / ChunkMarkSet.ShardCount);
        }, workers: workers);
        return absent;
    }

    /// <summary>A touching worker's copy of one shard, grown as needed.</summary>
    private sealed class ShardBuffer
    {
        private ChunkDigest[] _digests = [];
        private int[] _errnos = [];
        private ChunkFileStat[] _stats = [];
        public readonly int[] Starts = new int[ChunkMarkSet.DirectoriesPerShard + 1];

        public Span<ChunkDigest> Digests(int count)
        {
            if (_digests.Length < count)
            {
                _digests = new ChunkDigest[count + count / 4];
                _errnos = new int[_digests.Length];
                _stats = new ChunkFileStat[_digests.Length];
            }
            return _digests.AsSpan(0, count);
        }

        /// <summary>As many as the last <see cref="Digests"/> call asked for.</summary>
        public Span<int> Errnos(int count) => _errnos.AsSpan(0, count);

        /// <summary>As many as the last <see cref="Digests"/> call asked for (a dry run's stats).</summary>
        public Span<ChunkFileStat> Stats(int count) => _stats.AsSpan(0, count);
    }

    /// <summary>
    /// For each of <paramref name="digests"/> (missing chunks), the first index entry that references it, in walk
    /// order: the image's position and the entry. Read again only when chunks are missing; a digest whose every
    /// index vanished since is no longer required by anything and is left out.
    /// </summary>
    private static List<(int Image, long Entry, ChunkDigest Digest)> FirstReferences(IDatastoreBackend store, List<IndexImage> images,
        List<ChunkDigest> digests, IndexBuffer buffer, ITaskState state)
    {
        var found = new List<(int, long, ChunkDigest)>();
        var wanted = new HashSet<ChunkDigest>(digests);
        for (var i = 0; i < images.Count && wanted.Count > 0; i++)
        {
            state.CheckAbort();
            var display = Path.Combine(store.BasePath, images[i].RelativePath);
            if (ReadIndex(store, images[i], display, buffer) is not { } index) continue;
            var entries = index.EntryBytes;
            long entry = 0;
            for (var off = index.EntrySize - ChunkDigest.Size; off < entries.Length; off += index.EntrySize, entry++)
            {
                var digest = new ChunkDigest(entries.Slice(off, ChunkDigest.Size));
                if (wanted.Remove(digest)) found.Add((i, entry, digest));
            }
        }
        return found;
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
