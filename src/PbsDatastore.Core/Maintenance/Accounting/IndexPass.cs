using System.Collections.Concurrent;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Memory;
using PbsDatastore.Core.Store;

namespace PbsDatastore.Core.Maintenance;

/// <summary>An index file GC's walk found, with its length (for ordering the work and for progress).</summary>
internal sealed record StoreIndexFile(IndexImage Image, long FileSize)
{
    /// <summary>Path relative to the store root.</summary>
    public string RelativePath => Image.RelativePath;

    /// <summary>Its directory is outside the snapshot scheme `[ns path/]type/id/time` (GC's "strange path").</summary>
    public bool IsStrangePath => Image.IsStrangePath;
}

/// <summary>
/// One parallel pass over index files, shared by space accounting and chunk references: every file is read once,
/// largest first so the cores finish together, with progress by bytes and Ctrl+C between files and inside
/// large ones.
/// </summary>
internal static class IndexPass
{
    /// <summary>Entries visited between two abort checks inside one index.</summary>
    public const int AbortCheckInterval = 1 << 16;

    /// <summary>
    /// Per worker, the bytes of the last index read and a free buffer: indexes of one archive mostly have the same
    /// length, and reading each into a fresh array costs more in page faults and collections than the read. A
    /// worker takes a pair when it starts and gives it back when it stops, so the passes of one operation share them.
    /// Also the indexes a pass kept whole for the next pass over the same files (see <see cref="Run"/>).
    /// </summary>
    public sealed class IndexBuffers
    {
        private readonly ConcurrentBag<byte[]?[]> _pairs = [];
        private readonly ConcurrentDictionary<StoreIndexFile, IndexFile> _kept = new(ReferenceEqualityComparer.Instance);

        public byte[]?[] Take() => _pairs.TryTake(out var pair) ? pair : new byte[]?[2];

        public void Return(byte[]?[] pair) => _pairs.Add(pair);

        public void Keep(StoreIndexFile file, IndexFile index) => _kept[file] = index;

        /// <summary>A kept index, handed out once: the pass that takes it is its last reader.</summary>
        public bool TryTake(StoreIndexFile file, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IndexFile? index)
            => _kept.TryRemove(file, out index);
    }

    /// <summary>An opened index file and its position in the list.</summary>
    public readonly record struct Visited(int File, IndexFile Index);

    /// <summary>
    /// Calls <paramref name="visit"/> (on worker threads) for each file of <paramref name="files"/> with the
    /// opened index and, when there is one, the previous version of the same archive in the same group (read just
    /// before it on the same thread): successive backups of a disk mostly repeat their digests position by
    /// position, which lets a visitor skip work. A file that vanished since the listing is skipped, as GC does.
    /// Any other failure to read an index throws, unless <paramref name="onUnreadable"/> takes it.
    /// The bytes of an index are reused for the file after next on the same thread, and by later passes given the
    /// same <paramref name="buffers"/>: a visitor must not keep them. With <paramref name="keep"/>, each index is read
    /// into an array of its own and left in <paramref name="buffers"/> for the next pass over the same files, which
    /// then reads none of them again. A visitor that ignores the previous version passes
    /// <paramref name="withPrevious"/> false, and the files spread over the cores one by one.
    /// </summary>
    public static void Run(IDatastoreBackend store, IReadOnlyList<StoreIndexFile> files, Action<Visited, Visited?> visit,
        ITaskState state, string activity, Action<StoreIndexFile, PbsException>? onUnreadable = null, IndexBuffers? buffers = null,
        bool withPrevious = true, bool keep = false)
    {
        const int activityId = 1;
        var pieces = Pieces(files, withPrevious);
        var totalBytes = Math.Max(1, files.Sum(f => f.FileSize));
        long doneBytes = 0, doneFiles = 0;
        var lastPercent = -1;
        buffers ??= new IndexBuffers();
        try
        {
            WorkerPool.For(pieces.Count, state, buffers.Take, (k, pair) =>
            {
                Visited? previous = null;
                foreach (var i in pieces[k])
                {
                    var current = Open(i, pair);
                    if (current != null) visit(current.Value, previous);
                    previous = current;
                    Report(files[i].FileSize);
                }
            }, buffers.Return);
        }
        finally
        {
            state.Complete(activityId, activity);
        }

        Visited? Open(int i, byte[]?[] pair)
        {
            state.CheckAbort();
            var image = files[i].Image;
            // A kept index is its own array, never a spare: the pair's arrays stay as they were.
            if (buffers.TryTake(files[i], out var kept)) return new Visited(i, kept);
            try
            {
                // Read by the raw name as GC reads it (no atime update); null: vanished since the listing
                // (pruned meanwhile), which GC skips too.
                var display = Path.Combine(store.BasePath, image.RelativePath);
                var data = GarbageCollection.ReadIndexFile(store, image.RelativePathBytes, display, keep ? null : pair[0]);
                if (data == null) return null;
                var index = IndexFile.Parse(data, display);
                if (keep) buffers.Keep(files[i], index);
                else (pair[0], pair[1]) = (pair[1], data);
                return new Visited(i, index);
            }
            catch (PbsException e) when (onUnreadable != null)
            {
                onUnreadable(files[i], e);
                return null;
            }
        }

        void Report(long fileSize)
        {
            var bytes = Interlocked.Add(ref doneBytes, fileSize);
            var count = Interlocked.Increment(ref doneFiles);
            var percent = (int)(bytes * 100 / totalBytes);
            var last = Volatile.Read(ref lastPercent);
            if (percent > last && Interlocked.CompareExchange(ref lastPercent, percent, last) == last)
                state.Progress(activityId, activity, $"{count} of {files.Count} index files", percent);
        }
    }

    /// <summary>
    /// Runs <paramref name="slice"/> once per slice of the digest space, so that a set of the unique digests of
    /// <paramref name="files"/> (one <see cref="ChunkDigestTable"/>) holds at most <paramref name="memoryLimit"/>
    /// bytes at any store size (see <see cref="DigestPartitions"/>). Slices are whole prefix directories: a bucket
    /// listing (<see cref="ISliceListing"/>) fetches a slice as one run of keys, and what it keeps of the slice
    /// counts against the limit beside the table. <paramref name="slice"/> gets the range and the unique digests it
    /// is expected to hold, and returns how many it held; the previous slice's memory is returned first.
    /// <paramref name="passes"/> is the test seam: exactly this many slices, whatever the limit.
    /// </summary>
    public static void ForEachSlice(IDatastoreBackend store, IReadOnlyList<StoreIndexFile> files, long memoryLimit, int? passes,
        ITaskState state, string verb, Func<DigestRange, long, long> slice, IndexBuffers? buffers = null)
    {
        buffers ??= new IndexBuffers();
        // Every entry is at least a digest long: the entry count bounds the unique chunks.
        var maxDigests = files.Sum(f => Math.Max(0, f.FileSize - IndexFile.HeaderSize) / ChunkDigest.Size);
        var perDigest = ChunkDigestTable.MaxBytesPerDigest + ((store as ISliceListing)?.BytesPerObject ?? 0);
        var partitions = passes is { } n
            ? DigestPartitions.Fixed(n, DigestPartitions.PrefixDirectoryBits)
            : new DigestPartitions(memoryLimit, perDigest, maxDigests, DigestPartitions.PrefixDirectoryBits);
        if (partitions.WantsEstimate)
        {
            var sample = new DigestSample(maxDigests);
            // An index that cannot be read is left out here; the slices meet it again and deal with it.
            Run(store, files, (current, _) => sample.AddEntries(current.Index.EntryBytes, current.Index.EntrySize),
                state, "Estimating the unique chunks", onUnreadable: (_, _) => { }, buffers: buffers, withPrevious: false);
            partitions.SetEstimate(sample.Estimate);
        }
        else if (passes is null && files.Count > 0)
        {
            // One pass holds them (a few groups or snapshots): its table is sized from the digests that differ from
            // the previous version's at the same position, an upper bound on the unique chunks (exact for the
            // backups of a disk), which costs less than a table grown from nothing, whose outgrown arrays the
            // runtime copies and collects. The indexes are kept for the slice's own pass: their entries are few
            // enough for one slice (an eighth of what the limit holds), so they take a twentieth of it at most.
            long changed = 0;
            Run(store, files, (current, previous) => Interlocked.Add(ref changed,
                    SpaceAccounting.ForEachChangedDigest(current, previous, state, new SpaceAccounting.CountOnly())),
                state, "Counting the unique chunks", onUnreadable: (_, _) => { }, buffers: buffers, keep: true);
            partitions.SetEstimate(changed);
        }
        long previousCount = 0;
        for (var next = partitions.Next(); next is { } range; next = partitions.Next(previousCount))
        {
            if (!range.IsAll)
                state.Log($"{verb} pass {partitions.Passes}: digests {range.First >> 48:x4}..{range.Last >> 48:x4}, about {partitions.ExpectedDigests} chunks");
            if (partitions.Passes > 1) DigestPartitions.ReleaseSlice();
            previousCount = slice(range, partitions.ExpectedDigests);
        }
    }

    /// <summary>
    /// Work units: the versions of one archive in one group, oldest first (snapshot directory names sort by time),
    /// cut into pieces so that there are several per core (but never below a few versions: a piece's first index
    /// is visited in full); largest first, so the cores finish together. Without <paramref name="withPrevious"/>
    /// every file is a piece.
    /// </summary>
    private static List<int[]> Pieces(IReadOnlyList<StoreIndexFile> files, bool withPrevious)
    {
        if (!withPrevious)
            return Enumerable.Range(0, files.Count).OrderByDescending(i => files[i].FileSize).Select(i => new[] { i }).ToList();
        var maxLength = Math.Max(4, files.Count / (4 * Environment.ProcessorCount));
        return Enumerable.Range(0, files.Count)
            .GroupBy(i => ArchiveKey(files[i]))
            .SelectMany(g => g.OrderBy(i => files[i].RelativePath, StringComparer.Ordinal).Chunk(maxLength))
            .OrderByDescending(c => c.Sum(i => files[i].FileSize))
            .ToList();
    }

    /// <summary>`group dir/archive name` for an index in a snapshot; the path itself for anything else.</summary>
    private static string ArchiveKey(StoreIndexFile file)
    {
        if (file.IsStrangePath) return file.RelativePath;
        var name = file.RelativePath.LastIndexOf('/');
        var snapshot = file.RelativePath.LastIndexOf('/', name - 1);
        return string.Concat(file.RelativePath.AsSpan(0, snapshot), file.RelativePath.AsSpan(name));
    }

    /// <summary>Opens the store at <paramref name="storePath"/> outside datastore.cfg (named by its directory).</summary>
    public static FilesystemBackend OpenStore(string storePath)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(storePath));
        return FilesystemBackend.Open(Path.GetFileName(full), full);
    }

    /// <summary>The index files GC marks (spec §7.2), found by GC's own walk, in walk order.</summary>
    public static List<StoreIndexFile> ListIndexFiles(IDatastoreBackend store, ITaskState state)
        => IndexImageWalk.List(store, state)
            .Select(image => new StoreIndexFile(image, store.StatFile(image.RelativePathBytes, out var st) == 0 ? st.Size : 0))
            .ToList();
}
