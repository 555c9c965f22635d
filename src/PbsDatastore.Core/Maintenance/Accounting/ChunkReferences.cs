using System.Runtime.CompilerServices;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Memory;
using PbsDatastore.Core.Store;

namespace PbsDatastore.Core.Maintenance;

/// <summary>Bytes [Start, End) of an archive's logical stream.</summary>
public readonly record struct ByteRange(long Start, long End)
{
    public long Length => End - Start;
    public override string ToString() => $"{Start}-{End}";
}

/// <summary>One index file that references a chunk, and the parts of its stream that chunk holds.</summary>
public sealed class ChunkUse
{
    /// <summary>The chunk (so that the uses of several chunks can be listed together).</summary>
    public required ChunkDigest Digest { get; init; }
    /// <summary>The index file, relative to the store root.</summary>
    public required string IndexPath { get; init; }
    /// <summary>Its snapshot directory relative to the store root (`[ns/a/]type/id/time`); null outside the snapshot scheme.</summary>
    public string? Snapshot { get; init; }
    /// <summary>The archive name (the index file name).</summary>
    public required string Archive { get; init; }
    /// <summary>Stream ranges held by the chunk; adjacent entries with the same digest are merged into one range.</summary>
    public required IReadOnlyList<ByteRange> Ranges { get; init; }
    /// <summary>Index entries naming the chunk.</summary>
    public int Entries { get; init; }
    public long Bytes => Ranges.Sum(r => r.Length);
}

/// <summary>A chunk and everything that references it.</summary>
public sealed class ChunkReference
{
    public required ChunkDigest Digest { get; init; }
    /// <summary>The chunk file exists.</summary>
    public required bool Present { get; init; }
    /// <summary>Names of its `.bad` files in the chunk store (corrupt copies verify set aside).</summary>
    public required IReadOnlyList<string> BadFiles { get; init; }
    /// <summary>Index files referencing it, by path.</summary>
    public required IReadOnlyList<ChunkUse> Uses { get; init; }
    /// <summary>Snapshots (relative directories) referencing it, in path order.</summary>
    public IReadOnlyList<string> Snapshots => Uses.Select(u => u.Snapshot).OfType<string>().Distinct().ToList();
}

/// <summary>
/// Which snapshots and archives reference given chunks, and where in their streams: a parallel pass over every
/// index GC would mark, keeping only the references to the chunks asked about (memory per matching reference).
/// The missing chunks are found in slices of the digest space, each holding only its own referenced digests, so
/// that memory stays under a limit at any store size.
/// </summary>
public static class ChunkReferences
{
    private readonly record struct Hit(int File, int Entry, ChunkDigest Digest, long Start, long End);

    // Chunk state bits while looking for missing chunks: an index references it, its chunk file exists.
    private const uint Referenced = 1, Present = 2;

    private readonly struct Mark : IChunkStateUpdate
    {
        public uint Apply(uint state) => state | Referenced;
    }

    /// <summary>References of the given digests, in the order given (duplicates once).</summary>
    public static IReadOnlyList<ChunkReference> Find(Datastore datastore, IEnumerable<ChunkDigest> digests, ITaskState state)
    {
        datastore.CheckOperation(DatastoreOperation.Read);
        using var lease = datastore.LeaseBackend();
        var wanted = digests.Distinct().ToList();
        var store = ChunkStore(datastore, state);
        // A bucket listing keeps the objects asked about only.
        var asked = wanted.ToHashSet();
        (store as ISliceListing)?.ListSlice(DigestRange.All, (d, _) => asked.Contains(d), wanted.Count);
        return Find(store, wanted, state);
    }

    internal static IReadOnlyList<ChunkReference> Find(IDatastoreBackend store, IEnumerable<ChunkDigest> digests, ITaskState state)
    {
        var wanted = digests.Distinct().ToList();
        var table = new ChunkDigestTable(shardBits: 0);
        foreach (var d in wanted) table.Update(d, new Mark());
        var files = IndexPass.ListIndexFiles(store, state);
        var hits = Collect(store, files, d => !Unsafe.IsNullRef(ref table.Find(d)), new IndexWarnings(state), state);
        return Build(store, wanted, hits, files, present: null);
    }

    /// <summary>
    /// Chunks some index references but whose chunk file does not exist (GC's missing-chunk warnings), by digest.
    /// The referenced digests are held one slice of the digest space at a time, at most
    /// <paramref name="memoryLimit"/> bytes of them (see <see cref="IndexPass.ForEachSlice"/>); the slices come in
    /// digest order, so the result is that of one pass.
    /// </summary>
    public static IReadOnlyList<ChunkReference> FindMissing(Datastore datastore, ITaskState state,
        long memoryLimit = DigestPartitions.DefaultMemoryLimit)
    {
        datastore.CheckOperation(DatastoreOperation.Read);
        using var lease = datastore.LeaseBackend();
        return FindMissing(ChunkStore(datastore, state), state, memoryLimit);
    }

    /// <param name="passes">Test seam: exactly this many slices, whatever the memory limit.</param>
    internal static IReadOnlyList<ChunkReference> FindMissing(IDatastoreBackend store, ITaskState state, long memoryLimit, int? passes = null)
    {
        var files = IndexPass.ListIndexFiles(store, state);
        var missing = new List<ChunkReference>();
        var warnings = new IndexWarnings(state);
        var buffers = new IndexPass.IndexBuffers();
        IndexPass.ForEachSlice(store, files, memoryLimit, passes, state, "looking up",
            (range, expected) => FindMissingInSlice(store, files, range, expected, buffers, missing, warnings, state), buffers);
        return missing;
    }

    /// <summary>
    /// The missing chunks of <paramref name="range"/>, added to <paramref name="missing"/> in digest order: the
    /// indexes fill a table of the slice's referenced digests, the slice's prefix directories flag the present
    /// ones, and only when some are left does a second read of the indexes collect their references. Returns the
    /// slice's referenced chunks. The table lives in this frame only: unoptimised code keeps every reference it
    /// loaded alive until it returns, and the next slice's table must not meet it.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static long FindMissingInSlice(IDatastoreBackend store, List<StoreIndexFile> files, DigestRange range, long expected,
        IndexPass.IndexBuffers buffers, List<ChunkReference> missing, IndexWarnings warnings, ITaskState state)
    {
        var table = new ChunkDigestTable(expected: expected, range: range);
        // Marking is idempotent: a digest the previous version of the archive holds at the same position is skipped.
        IndexPass.Run(store, files, (current, previous) =>
            SpaceAccounting.ForEachChangedDigest(current, previous, state, new MarkReferenced(table, range)),
            state, "Reading indexes", onUnreadable: warnings.Unreadable, buffers: buffers);
        // A bucket listing keeps only the slice's referenced objects (with their `.bad` objects).
        (store as ISliceListing)?.ListSlice(range, (d, _) => !Unsafe.IsNullRef(ref table.Find(d)), table.Count);
        // GC's touch of the lowercase name is what finds a chunk; a `.bad` or an upper-case name does not count.
        ReadChunkStore(store, range, state, prefix => store.ReadChunkNames(prefix, d => table.TryMark(d, Present)));
        var absent = new List<ChunkDigest>();
        for (var shard = 0; shard < table.ShardCount; shard++)
            foreach (ref readonly var entry in table.ShardSlots(shard))
                if (entry.State != 0 && (entry.State & Present) == 0)
                    absent.Add(entry.Digest);
        if (absent.Count > 0)
        {
            absent.Sort();
            bool isAbsent(ChunkDigest d)
            {
                if (!range.Contains(d)) return false;
                ref var entry = ref table.Find(d);
                return !Unsafe.IsNullRef(ref entry) && (entry.State & Present) == 0;
            }
            missing.AddRange(Build(store, absent, Collect(store, files, isAbsent, warnings, state), files, present: false));
        }
        return table.Count;
    }

    private readonly struct MarkReferenced(ChunkDigestTable table, DigestRange range) : SpaceAccounting.IDigestVisitor
    {
        public void Visit(ReadOnlySpan<byte> digest)
        {
            if (range.Contains(digest)) table.Update(new ChunkDigest(digest), new Mark());
        }
    }

    /// <summary>Chunks that have `.bad` files in the chunk store, by digest, with whatever still references them.</summary>
    public static IReadOnlyList<ChunkReference> FindBad(Datastore datastore, ITaskState state)
    {
        datastore.CheckOperation(DatastoreOperation.Read);
        using var lease = datastore.LeaseBackend();
        var store = ChunkStore(datastore, state);
        // A bucket listing keeps only the digests with `.bad` objects (and their chunk objects, for Present).
        (store as ISliceListing)?.ListSlice(DigestRange.All, (_, hasBad) => hasBad);
        var bad = new List<ChunkDigest>();
        ReadChunkStore(store, DigestRange.All, state, prefix =>
        {
            var entries = new List<ChunkEntry>();
            store.ReadPrefixDir(prefix, entries);
            lock (bad) bad.AddRange(entries.Where(e => e.IsBad).Select(e => e.Digest));
        });
        return Find(store, bad.Distinct().Order(), state);
    }

    /// <summary>The chunk store to look in: for an S3 store the bucket's listing (its chunks and `.bad` objects).</summary>
    private static IDatastoreBackend ChunkStore(Datastore datastore, ITaskState state) => S3.S3ChunkListing.Over(datastore.Backend, state);

    /// <summary>
    /// Calls <paramref name="readDirectory"/> (on worker threads) for each prefix directory of <paramref name="range"/>,
    /// with progress and Ctrl+C.
    /// </summary>
    private static void ReadChunkStore(IDatastoreBackend store, DigestRange range, ITaskState state, Action<int> readDirectory)
    {
        const int activityId = 3;
        const string activity = "Reading the chunk store";
        const int batch = 256;
        var first = (int)(range.First >> DigestPartitions.PrefixDirectoryBits);
        var directories = (int)(range.Last >> DigestPartitions.PrefixDirectoryBits) - first + 1;
        var done = 0;
        try
        {
            WorkerPool.For((directories + batch - 1) / batch, state, b =>
            {
                state.CheckAbort();
                var end = Math.Min(directories, (b + 1) * batch);
                for (var d = b * batch; d < end; d++) readDirectory(first + d);
                var count = Interlocked.Add(ref done, end - b * batch);
                state.Progress(activityId, activity, $"{count} of {directories} directories", count * 100 / directories);
            });
        }
        finally
        {
            state.Complete(activityId, activity);
        }
    }

    /// <summary>
    /// The references to the digests <paramref name="wanted"/> accepts, in no particular order. An entry whose byte
    /// range cannot be read (a damaged dynamic index) is left out with a warning; the rest of its index counts.
    /// </summary>
    private static List<Hit> Collect(IDatastoreBackend store, List<StoreIndexFile> files, Func<ChunkDigest, bool> wanted,
        IndexWarnings warnings, ITaskState state)
    {
        using var hits = new ThreadLocal<List<Hit>>(() => [], trackAllValues: true);
        IndexPass.Run(store, files, (current, _) =>
        {
            var index = current.Index;
            for (var n = 0; n < index.Count; n++)
            {
                if ((n + 1) % IndexPass.AbortCheckInterval == 0) state.CheckAbort();
                var digest = new ChunkDigest(index.GetDigest(n));
                if (!wanted(digest)) continue;
                try
                {
                    hits.Value!.Add(new Hit(current.File, n, digest, index.ChunkStart(n), index.ChunkEnd(n)));
                }
                catch (PbsException e)
                {
                    warnings.Damaged(files[current.File], e);
                }
            }
        }, state, "Reading indexes", onUnreadable: warnings.Unreadable, withPrevious: false);
        return hits.Values.SelectMany(h => h).ToList();
    }

    /// <summary>
    /// The warnings about indexes that cannot be read, at most one per file and command however many times the
    /// command reads the indexes (once per slice). Thread-safe.
    /// </summary>
    private sealed class IndexWarnings(ITaskState state)
    {
        private readonly HashSet<string> _warned = new(StringComparer.Ordinal);

        public void Unreadable(StoreIndexFile file, PbsException e)
        {
            if (First(file)) state.Warn($"skipping unreadable index \"{file.RelativePath}\" - {e.Message}");
        }

        public void Damaged(StoreIndexFile file, PbsException e)
        {
            if (First(file)) state.Warn($"index \"{file.RelativePath}\" is damaged, its references may be incomplete - {e.Message}");
        }

        private bool First(StoreIndexFile file)
        {
            lock (_warned) return _warned.Add(file.RelativePath);
        }
    }

    private static List<ChunkReference> Build(IDatastoreBackend store, List<ChunkDigest> digests, List<Hit> hits,
        List<StoreIndexFile> files, bool? present)
    {
        var badFiles = new BadFileIndex(store);
        var byDigest = hits.ToLookup(h => h.Digest);
        return digests.Select(digest => new ChunkReference
        {
            Digest = digest,
            Present = present ?? store.Stat(digest) != null,
            BadFiles = badFiles.For(digest).Select(e => e.Name).Order(StringComparer.Ordinal).ToList(),
            Uses = byDigest[digest]
                .GroupBy(h => h.File)
                .Select(g => Use(files[g.Key], g.OrderBy(h => h.Entry).ToList()))
                .OrderBy(u => u.IndexPath, StringComparer.Ordinal)
                .ToList(),
        }).ToList();
    }

    private static ChunkUse Use(StoreIndexFile file, List<Hit> hits)
    {
        var ranges = new List<ByteRange>();
        foreach (var h in hits)
        {
            if (ranges.Count > 0 && ranges[^1].End == h.Start)
                ranges[^1] = ranges[^1] with { End = h.End };
            else
                ranges.Add(new ByteRange(h.Start, h.End));
        }
        var slash = file.RelativePath.LastIndexOf('/');
        return new ChunkUse
        {
            Digest = hits[0].Digest,
            IndexPath = file.RelativePath,
            Snapshot = file.IsStrangePath ? null : file.RelativePath[..slash],
            Archive = file.RelativePath[(slash + 1)..],
            Ranges = ranges,
            Entries = hits.Count,
        };
    }
}
