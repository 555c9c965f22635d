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
/// Which snapshots and archives reference given chunks, and where in their streams: one parallel pass over every
/// index GC would mark, keeping only the references to the chunks asked about (memory per matching reference).
/// </summary>
public static class ChunkReferences
{
    private readonly record struct Hit(int File, int Entry, ChunkDigest Digest, long Start, long End);

    private readonly struct Mark : IChunkStateUpdate
    {
        public uint Apply(uint state) => 1;
    }

    /// <summary>References of the given digests, in the order given (duplicates once).</summary>
    public static IReadOnlyList<ChunkReference> Find(Datastore datastore, IEnumerable<ChunkDigest> digests, ITaskState state)
    {
        datastore.CheckOperation(DatastoreOperation.Read);
        using var lease = datastore.LeaseBackend();
        var wanted = digests.Distinct().ToList();
        var store = ChunkStore(datastore, state);
        // A bucket listing keeps the objects asked about only.
        (store as ISliceListing)?.ListSlice(DigestRange.All, wanted.ToHashSet().Contains, wanted.Count);
        return Find(store, wanted, state);
    }

    internal static IReadOnlyList<ChunkReference> Find(IDatastoreBackend store, IEnumerable<ChunkDigest> digests, ITaskState state)
    {
        var wanted = digests.Distinct().ToList();
        var table = new ChunkDigestTable(shardBits: 0);
        foreach (var d in wanted) table.Update(d, new Mark());
        var files = IndexPass.ListIndexFiles(store, state);
        var hits = Collect(store, files, d => !Unsafe.IsNullRef(ref table.Find(d)), state);
        return Build(store, wanted, hits, files, present: null);
    }

    /// <summary>Chunks some index references but whose chunk file does not exist (GC's missing-chunk warnings), by digest.</summary>
    public static IReadOnlyList<ChunkReference> FindMissing(Datastore datastore, ITaskState state)
    {
        datastore.CheckOperation(DatastoreOperation.Read);
        using var lease = datastore.LeaseBackend();
        var store = ChunkStore(datastore, state);
        var existing = new ChunkDigestTable();
        ReadChunkStore(store, state, entry =>
        {
            // GC's touch of the lowercase name is what finds a chunk; a `.bad` or an upper-case name does not count.
            if (!entry.IsBad && entry.Name.Length == 64 && entry.Name == entry.Digest.ToString())
                existing.Update(entry.Digest, new Mark());
        });
        var files = IndexPass.ListIndexFiles(store, state);
        var hits = Collect(store, files, d => Unsafe.IsNullRef(ref existing.Find(d)), state);
        var missing = hits.Select(h => h.Digest).Distinct().Order().ToList();
        return Build(store, missing, hits, files, present: false);
    }

    /// <summary>Chunks that have `.bad` files in the chunk store, by digest, with whatever still references them.</summary>
    public static IReadOnlyList<ChunkReference> FindBad(Datastore datastore, ITaskState state)
    {
        datastore.CheckOperation(DatastoreOperation.Read);
        using var lease = datastore.LeaseBackend();
        var store = ChunkStore(datastore, state);
        var bad = new List<ChunkDigest>();
        ReadChunkStore(store, state, entry =>
        {
            if (entry.IsBad)
                lock (bad) bad.Add(entry.Digest);
        });
        return Find(store, bad.Distinct().Order(), state);
    }

    /// <summary>The chunk store to look in: for an S3 store the bucket's listing (its chunks and `.bad` objects).</summary>
    private static IDatastoreBackend ChunkStore(Datastore datastore, ITaskState state) => S3.S3ChunkListing.Over(datastore.Backend, state);

    /// <summary>
    /// Calls <paramref name="onEntry"/> (on worker threads) for every entry of the chunk store passing PBS's
    /// chunk-name test, prefix directories read in parallel.
    /// </summary>
    private static void ReadChunkStore(IDatastoreBackend store, ITaskState state, Action<ChunkEntry> onEntry)
    {
        const int activityId = 3;
        const string activity = "Reading the chunk store";
        const int batch = 256;
        var done = 0;
        try
        {
            WorkerPool.For(ChunkLayout.PrefixCount / batch, state, b =>
            {
                state.CheckAbort();
                var entries = new List<ChunkEntry>();
                for (var prefix = b * batch; prefix < (b + 1) * batch; prefix++) store.ReadPrefixDir(prefix, entries);
                entries.ForEach(onEntry);
                var count = Interlocked.Increment(ref done);
                state.Progress(activityId, activity, $"{count * batch} of {ChunkLayout.PrefixCount} directories", count * batch * 100 / ChunkLayout.PrefixCount);
            });
        }
        finally
        {
            state.Complete(activityId, activity);
        }
    }

    private static List<Hit> Collect(IDatastoreBackend store, List<StoreIndexFile> files, Func<ChunkDigest, bool> wanted, ITaskState state)
    {
        var hits = new List<Hit>();
        IndexPass.Run(store, files, (current, _) =>
        {
            var (i, index) = current;
            var local = new List<Hit>();
            try
            {
                for (var n = 0; n < index.Count; n++)
                {
                    if ((n + 1) % IndexPass.AbortCheckInterval == 0) state.CheckAbort();
                    var digest = new ChunkDigest(index.GetDigest(n));
                    if (wanted(digest)) local.Add(new Hit(i, n, digest, index.ChunkStart(n), index.ChunkEnd(n)));
                }
            }
            catch (PbsException e) when (e.ErrorId != "OperationStopped")
            {
                state.Warn($"index \"{files[i].RelativePath}\" is damaged, its references may be incomplete - {e.Message}");
            }
            if (local.Count > 0)
                lock (hits) hits.AddRange(local);
        }, state, "Reading indexes",
        onUnreadable: (file, e) => state.Warn($"skipping unreadable index \"{file.RelativePath}\" - {e.Message}"));
        return hits;
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
