using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Memory;
using PbsDatastore.Core.Native;
using PbsDatastore.Core.Store;

namespace PbsDatastore.Core.Maintenance;

/// <summary>
/// A part of a store to measure: a directory relative to the store root (a snapshot, a group, a namespace with
/// everything below it, or "" for the whole store) and the name to report it under.
/// </summary>
public sealed record AccountingMember(string Name, string RelativePath);

/// <summary>What one member of a measured set holds on its own.</summary>
public sealed class MemberSpaceUsage
{
    public required string Name { get; init; }
    public required string RelativePath { get; init; }
    public int IndexFiles { get; init; }
    /// <summary>Sum of the logical sizes (`index_bytes`) of its indexes.</summary>
    public long LogicalBytes { get; init; }
    /// <summary>Chunks referenced by this member and by nothing else, in the set or outside it.</summary>
    public long ExclusiveChunks { get; init; }
    public long ExclusiveBytes { get; init; }
}

/// <summary>Space figures of a set of snapshots, groups or namespaces, measured as a whole.</summary>
public sealed class SpaceUsage
{
    public required string StorePath { get; init; }
    public required IReadOnlyList<MemberSpaceUsage> Members { get; init; }
    /// <summary>Index files of the set (GC's definition: `*.fidx`/`*.didx`, not in hidden directories).</summary>
    public int IndexFiles { get; init; }
    /// <summary>Sum of `index_bytes` over the set's indexes: what GC reports as original data usage.</summary>
    public long LogicalBytes { get; init; }
    /// <summary>Unique chunks the set references, present or not.</summary>
    public long ReferencedChunks { get; init; }
    /// <summary>
    /// On-disk bytes of those chunks: the chunk file, or for a missing chunk the `.N.bad` files GC keeps alive
    /// in its place.
    /// </summary>
    public long ReferencedBytes { get; init; }
    /// <summary>Chunks only the set references: removing the set and running GC frees exactly these.</summary>
    public long ExclusiveChunks { get; init; }
    public long ExclusiveBytes { get; init; }
    /// <summary>Chunks the set references that something outside it references too.</summary>
    public long SharedChunks { get; init; }
    public long SharedBytes { get; init; }
    /// <summary>Referenced chunks whose chunk file does not exist.</summary>
    public long MissingChunks { get; init; }
    /// <summary>Index files in the whole store, all of which were read.</summary>
    public int StoreIndexFiles { get; init; }

    /// <summary>Bytes the digest table and filter held at most (for the memory-per-chunk benchmark).</summary>
    internal long TableBytes { get; init; }

    /// <summary>Logical bytes over referenced bytes, as GC computes it (1 when nothing is on disk).</summary>
    public double DeduplicationFactor => ReferencedBytes == 0 ? 1.0 : (double)LogicalBytes / ReferencedBytes;
}

/// <summary>
/// Space accounting in two passes over every index GC would mark: the set's own indexes fill a table of its
/// unique chunks (which member references each), then the other indexes only look their digests up in it, through
/// a small filter that rules most of them out without touching the table, to flag the chunks something outside
/// references; then one stat per chunk of the set. Memory is per unique chunk of the set (see
/// <see cref="ChunkDigestTable"/>), never per reference, and indexes are read in parallel.
/// </summary>
public static class SpaceAccounting
{
    // Chunk state bits: the referencing member (1-based; all ones = several members), referenced from outside
    // the set, chunk file present.
    internal const uint MemberMask = (1u << 28) - 1;
    internal const uint SeveralMembers = MemberMask;
    internal const uint Outside = 1u << 28;
    internal const uint Present = 1u << 29;

    /// <summary>
    /// Digests gathered per shard and applied a batch at a time: one lock per batch, and the batch's slots are
    /// prefetched together, so the cache misses of a table far larger than the caches overlap. One per thread.
    /// </summary>
    private sealed class ShardBatch(int shards)
    {
        private const int Size = 32;
        private readonly ChunkDigest[] _digests = new ChunkDigest[shards * Size];
        private readonly int[] _counts = new int[shards];

        public void Add(ChunkDigestTable table, in ChunkDigest digest, MarkReference mark)
        {
            var shard = table.ShardIndex(digest);
            _digests[shard * Size + _counts[shard]] = digest;
            if (++_counts[shard] == Size) Apply(table, shard, mark);
        }

        public void Flush(ChunkDigestTable table, MarkReference mark)
        {
            for (var shard = 0; shard < _counts.Length; shard++)
                if (_counts[shard] > 0) Apply(table, shard, mark);
        }

        private void Apply(ChunkDigestTable table, int shard, MarkReference mark)
        {
            table.UpdateShard(shard, _digests.AsSpan(shard * Size, _counts[shard]), mark);
            _counts[shard] = 0;
        }
    }

    private readonly struct MarkReference(uint member) : IChunkStateUpdate
    {
        public uint Apply(uint state)
        {
            var current = state & MemberMask;
            return current == 0 || current == member ? state | member : state | SeveralMembers;
        }
    }

    /// <summary>
    /// Measures <paramref name="members"/> as one set. The digest table holds at most <paramref name="memoryLimit"/>
    /// bytes: a set with more unique chunks is measured in several passes over the indexes, each owning a slice of
    /// the digest space (see <see cref="DigestPartitions"/>); every figure is a sum over chunks, so the slices add
    /// up to the same result.
    /// </summary>
    public static SpaceUsage Measure(Datastore datastore, IReadOnlyList<AccountingMember> members, ITaskState state,
        long memoryLimit = DigestPartitions.DefaultMemoryLimit)
    {
        datastore.CheckOperation(DatastoreOperation.Read);
        using var lease = datastore.LeaseBackend();
        // An S3 store's chunks are counted from the bucket listing, as its GC counts them.
        return Measure(S3.S3ChunkListing.Over(datastore.Backend, state), members, state, memoryLimit);
    }

    /// <summary>Measures the store at a path, outside datastore.cfg (tests, benchmarks).</summary>
    internal static SpaceUsage Measure(string storePath, IReadOnlyList<AccountingMember> members, ITaskState state,
        long memoryLimit = DigestPartitions.DefaultMemoryLimit, int? passes = null)
    {
        using var store = IndexPass.OpenStore(storePath);
        return Measure(store, members, state, memoryLimit, passes);
    }

    /// <param name="passes">Test seam: exactly this many passes, whatever the memory limit.</param>
    internal static SpaceUsage Measure(IDatastoreBackend store, IReadOnlyList<AccountingMember> members, ITaskState state,
        long memoryLimit, int? passes = null)
    {
        if (members.Count >= SeveralMembers)
            throw new PbsException("TooManyMembers", PbsErrorKind.InvalidArgument, $"cannot measure {members.Count} items at once");
        var files = IndexPass.ListIndexFiles(store, state);
        var memberOf = AssignMembers(files, members);
        var setFiles = files.Where((_, i) => memberOf[i] != 0).ToList();
        var setMember = memberOf.Where(m => m != 0).ToArray();
        var otherFiles = files.Where((_, i) => memberOf[i] == 0).ToList();
        var buffers = new IndexPass.IndexBuffers();
        var totals = new Totals(members.Count);
        var first = true;
        IndexPass.ForEachSlice(store, setFiles, memoryLimit, passes, state, "measuring", (range, expected) =>
        {
            var count = MeasureSlice(store, setFiles, setMember, otherFiles, range, expected, totals, first, buffers, state);
            first = false;
            return count;
        }, buffers);
        return totals.ToUsage(store.BasePath, files.Count, members);
    }

    /// <summary>
    /// The digests of <paramref name="range"/>: the set's indexes fill the table, their chunk files are stat'ed
    /// while the other indexes flag what they share; the table's figures go into <paramref name="totals"/>, with
    /// index files and logical bytes when <paramref name="countFiles"/> (the first slice). Returns the slice's unique
    /// chunks. The table lives in this frame only: unoptimised code (a method that runs once is never optimised)
    /// keeps every reference it loaded alive until it returns, and the next slice's table must not meet it.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static long MeasureSlice(IDatastoreBackend store, List<StoreIndexFile> setFiles, int[] setMember,
        List<StoreIndexFile> otherFiles, DigestRange range, long expected, Totals totals, bool countFiles,
        IndexPass.IndexBuffers buffers, ITaskState state)
    {
        var counts = countFiles ? totals : null;
        var table = new ChunkDigestTable(expected: expected, range: range);
        using (var batches = new ThreadLocal<ShardBatch>(() => new ShardBatch(table.ShardCount)))
        {
            IndexPass.Run(store, setFiles, (current, previous) =>
            {
                var member = (uint)setMember[current.File];
                var mark = new MarkReference(member);
                var batch = batches.Value!;
                // Where the previous version of this archive holds the same digest at the same position and counts
                // for the same member, the update was already made: marking is idempotent.
                var same = previous is { } p && setMember[p.File] == member;
                ForEachChangedDigest(current, same ? previous : null, state, new AddToSet(table, batch, mark, range));
                batch.Flush(table, mark);
                if (counts is not null)
                {
                    Interlocked.Add(ref counts.Logical[member], current.Index.IndexBytes);
                    Interlocked.Increment(ref counts.IndexCount[member]);
                }
            }, state, "Reading the measured indexes", buffers: buffers);
        }

        // The set's chunks are all known now: a bucket listing keeps only theirs of the slice. Their files are
        // stat'ed while the other indexes are read, which only set another state bit of the same entries.
        (store as ISliceListing)?.ListSlice(range, (d, _) => !Unsafe.IsNullRef(ref table.Find(d)), table.Count);
        var stat = Task.Run(() => StatChunks(store, table, state));
        try
        {
            if (otherFiles.Count > 0 && table.Count > 0)
            {
                var filter = new DigestFilter(table);
                table.FilterBytes = filter.AllocatedBytes;
                IndexPass.Run(store, otherFiles, (current, _) => MarkOutside(current.Index, table, filter, state), state,
                    "Reading the other indexes", buffers: buffers, withPrevious: false);
            }
        }
        catch
        {
            // The pass's own failure (or Ctrl+C) is the one to report; the stat must not outlive the call.
            try { stat.Wait(); } catch (AggregateException) { }
            throw;
        }
        stat.GetAwaiter().GetResult();
        totals.Add(table);
        return table.Count;
    }

    /// <summary>
    /// Calls <paramref name="onDigest"/> for each entry of an index, skipping those where <paramref name="previous"/>
    /// (the previous version of the archive) holds the same digest at the same position: successive backups of a
    /// disk mostly repeat their digests, and every update of a pass is idempotent. Returns the number of calls.
    /// </summary>
    internal static int ForEachChangedDigest<T>(IndexPass.Visited current, IndexPass.Visited? previous, ITaskState state,
        T onDigest) where T : struct, IDigestVisitor
    {
        var entries = current.Index.EntryBytes;
        var stride = current.Index.EntrySize;
        var before = previous is { } p && p.Index.EntrySize == stride ? p.Index.EntryBytes : default;
        var count = entries.Length / stride;
        var comparable = Math.Min(count, before.Length / stride);
        // Raw refs, no bounds checks: this loop meets every digest of the store, and the index lengths were
        // checked when parsed (a whole number of entries).
        ref var digests = ref Unsafe.Add(ref MemoryMarshal.GetReference(entries), stride - ChunkDigest.Size);
        ref var old = ref Unsafe.Add(ref MemoryMarshal.GetReference(before), stride - ChunkDigest.Size);
        var visited = 0;
        for (var start = 0; start < count; start += IndexPass.AbortCheckInterval)
        {
            if (start > 0) state.CheckAbort();
            var end = Math.Min(count, start + IndexPass.AbortCheckInterval);
            for (var i = start; i < end; i++)
            {
                ref var digest = ref Unsafe.Add(ref digests, (nint)i * stride);
                if (i < comparable
                    && Vector256.LoadUnsafe(ref digest) == Vector256.LoadUnsafe(ref Unsafe.Add(ref old, (nint)i * stride))) continue;
                onDigest.Visit(MemoryMarshal.CreateReadOnlySpan(ref digest, ChunkDigest.Size));
                visited++;
            }
        }
        return visited;
    }

    /// <summary>
    /// What a pass does with each digest (its 32 bytes in the index, not yet decoded); a struct so that the JIT
    /// inlines it into the loop.
    /// </summary>
    internal interface IDigestVisitor
    {
        void Visit(ReadOnlySpan<byte> digest);
    }

    internal readonly struct CountOnly : IDigestVisitor
    {
        public void Visit(ReadOnlySpan<byte> digest) { }
    }

    private readonly struct AddToSet(ChunkDigestTable table, ShardBatch batch, MarkReference mark, DigestRange range) : IDigestVisitor
    {
        public void Visit(ReadOnlySpan<byte> digest)
        {
            if (range.Contains(digest)) batch.Add(table, new ChunkDigest(digest), mark);
        }
    }

    /// <summary>
    /// Flags every chunk of the table that <paramref name="index"/> (outside the set) references. Each entry goes
    /// through the filter; comparing it to the previous version's first would read as many bytes as the filter's
    /// test, which most entries fail anyway.
    /// </summary>
    private static void MarkOutside(IndexFile index, ChunkDigestTable table, DigestFilter filter, ITaskState state)
    {
        var entries = index.EntryBytes;
        var step = IndexPass.AbortCheckInterval * index.EntrySize;
        for (var start = 0; start < entries.Length; start += step)
        {
            if (start > 0) state.CheckAbort();
            filter.MarkHeld(entries.Slice(start, Math.Min(step, entries.Length - start)), index.EntrySize, table, Outside);
        }
    }

    /// <summary>
    /// Member (1-based) of each file: the deepest member directory containing it; 0 when none does. Overlapping
    /// members are allowed: the set is their union.
    /// </summary>
    private static int[] AssignMembers(IReadOnlyList<StoreIndexFile> files, IReadOnlyList<AccountingMember> members)
    {
        var byPath = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var m = 0; m < members.Count; m++)
            byPath.TryAdd(members[m].RelativePath.Trim('/'), m + 1);
        var result = new int[files.Count];
        for (var i = 0; i < files.Count; i++)
        {
            var dir = files[i].RelativePath;
            while (true)
            {
                var slash = dir.LastIndexOf('/');
                dir = slash < 0 ? "" : dir[..slash];
                if (byPath.TryGetValue(dir, out var m))
                {
                    result[i] = m;
                    break;
                }
                if (dir.Length == 0) break;
            }
        }
        return result;
    }

    /// <summary>
    /// Fills size and presence of every chunk of the table with one statx each, relative to `.chunks` (no path
    /// strings), shards in parallel, each directory by directory. A missing chunk's size is that of its `.0.bad` …
    /// `.9.bad` files, which GC touches in its place.
    /// </summary>
    private static void StatChunks(IDatastoreBackend store, ChunkDigestTable table, ITaskState state)
    {
        const int activityId = 2;
        const string activity = "Checking chunk files";
        var badFiles = new BadFileIndex(store);
        var done = 0;
        try
        {
            WorkerPool.For(table.ShardCount, state, () => new DirectoryOrder(table.DirectoriesPerShard), StatShard);
        }
        finally
        {
            state.Complete(activityId, activity);
        }

        void StatShard(int shard, DirectoryOrder order)
        {
            state.CheckAbort();
            var slots = table.ShardSlots(shard);
            if (table.ShardCountOf(shard) < table.DirectoriesPerShard)
            {
                // Fewer chunks than directories (a group or a snapshot): mostly one per directory, which a batch
                // cannot save a lookup of; the slots' own order is as good as any.
                foreach (ref var entry in slots)
                    if (entry.State != 0) Record(ref entry, store.StatChunk(entry.Digest, default, out var st), st);
            }
            else
            {
                var sorted = order.Sort(table, slots, out var digests, out var errnos, out var stats);
                // One call per prefix directory: a file system opens it once for all its chunks.
                for (var start = 0; start < sorted.Length;)
                {
                    var prefix = digests[start].PrefixIndex;
                    var end = start + 1;
                    while (end < sorted.Length && digests[end].PrefixIndex == prefix) end++;
                    store.StatChunks(prefix, digests[start..end], errnos[start..end], stats[start..end]);
                    start = end;
                }
                for (var i = 0; i < sorted.Length; i++) Record(ref slots[sorted[i]], errnos[i], stats[i]);
            }
            var count = Interlocked.Increment(ref done);
            state.Progress(activityId, activity, $"{count} of {table.ShardCount}", count * 100 / table.ShardCount);
        }

        void Record(ref ChunkDigestTable.Entry entry, int errno, in ChunkFileStat st)
        {
            if (errno == 0)
            {
                Interlocked.Or(ref entry.State, Present);
                // GC's sweep counts and removes regular files only.
                entry.Size = st.IsRegularFile ? (uint)Math.Min(st.Size, uint.MaxValue) : 0;
                return;
            }
            if (errno != Libc.ENOENT && errno != Libc.ENOTDIR)
                throw ChunkIteration.StatFailed(store.ChunkPath(entry.Digest), errno);
            entry.Size = (uint)Math.Min(badFiles.KeptAliveBytes(entry.Digest), uint.MaxValue);
        }
    }

    /// <summary>
    /// The used slots of a shard, directory by directory: slots are in hash order, which would visit the shard's
    /// prefix directories at random, and a stat whose directory was just looked up is cheaper. A counting sort,
    /// its arrays reused by one worker.
    /// </summary>
    private sealed class DirectoryOrder(int directories)
    {
        private readonly int[] _starts = new int[directories + 1];
        private int[] _slots = [];
        private ChunkDigest[] _digests = [];
        private int[] _errnos = [];
        private ChunkFileStat[] _stats = [];

        /// <summary>The sorted slots, their digests in that order, and room for each one's stat.</summary>
        public ReadOnlySpan<int> Sort(ChunkDigestTable table, ReadOnlySpan<ChunkDigestTable.Entry> slots,
            out Span<ChunkDigest> digests, out Span<int> errnos, out Span<ChunkFileStat> stats)
        {
            var sorted = Sort(table, slots);
            if (_digests.Length < sorted.Length)
            {
                _digests = new ChunkDigest[_slots.Length];
                _errnos = new int[_slots.Length];
                _stats = new ChunkFileStat[_slots.Length];
            }
            digests = _digests.AsSpan(0, sorted.Length);
            for (var i = 0; i < sorted.Length; i++) digests[i] = slots[sorted[i]].Digest;
            errnos = _errnos.AsSpan(0, sorted.Length);
            stats = _stats.AsSpan(0, sorted.Length);
            return sorted;
        }

        private ReadOnlySpan<int> Sort(ChunkDigestTable table, ReadOnlySpan<ChunkDigestTable.Entry> slots)
        {
            Array.Clear(_starts);
            var used = 0;
            foreach (ref readonly var entry in slots)
                if (entry.State != 0)
                {
                    _starts[table.DirectoryInShard(entry.Digest) + 1]++;
                    used++;
                }
            for (var d = 1; d < _starts.Length; d++) _starts[d] += _starts[d - 1];
            if (_slots.Length < used) _slots = new int[used];
            for (var i = 0; i < slots.Length; i++)
                if (slots[i].State != 0) _slots[_starts[table.DirectoryInShard(slots[i].Digest)]++] = i;
            return _slots.AsSpan(0, used);
        }
    }

    /// <summary>The figures of a measured set, summed over the slices of the digest space.</summary>
    private sealed class Totals(int members)
    {
        public readonly long[] Logical = new long[members + 1];
        public readonly int[] IndexCount = new int[members + 1];
        private readonly long[] _exclusiveChunks = new long[members + 1];
        private readonly long[] _exclusiveBytes = new long[members + 1];
        private long _referenced, _referencedBytes, _exclusive, _exclusiveSum, _missing, _tableBytes;

        public void Add(ChunkDigestTable table)
        {
            for (var shard = 0; shard < table.ShardCount; shard++)
            {
                foreach (ref readonly var entry in table.ShardSlots(shard))
                {
                    if (entry.State == 0) continue;
                    var member = entry.State & MemberMask;
                    _referenced++;
                    _referencedBytes += entry.Size;
                    if ((entry.State & Present) == 0) _missing++;
                    if ((entry.State & Outside) != 0) continue;
                    _exclusive++;
                    _exclusiveSum += entry.Size;
                    if (member != SeveralMembers)
                    {
                        _exclusiveChunks[member]++;
                        _exclusiveBytes[member] += entry.Size;
                    }
                }
            }
            _tableBytes = Math.Max(_tableBytes, table.AllocatedBytes + table.FilterBytes);
        }

        public SpaceUsage ToUsage(string storePath, int storeIndexFiles, IReadOnlyList<AccountingMember> members) => new()
        {
            StorePath = storePath,
            Members = members.Select((m, i) => new MemberSpaceUsage
            {
                Name = m.Name,
                RelativePath = m.RelativePath,
                IndexFiles = IndexCount[i + 1],
                LogicalBytes = Logical[i + 1],
                ExclusiveChunks = _exclusiveChunks[i + 1],
                ExclusiveBytes = _exclusiveBytes[i + 1],
            }).ToList(),
            IndexFiles = IndexCount.Skip(1).Sum(),
            LogicalBytes = Logical.Skip(1).Sum(),
            ReferencedChunks = _referenced,
            ReferencedBytes = _referencedBytes,
            ExclusiveChunks = _exclusive,
            ExclusiveBytes = _exclusiveSum,
            SharedChunks = _referenced - _exclusive,
            SharedBytes = _referencedBytes - _exclusiveSum,
            MissingChunks = _missing,
            StoreIndexFiles = storeIndexFiles,
            TableBytes = _tableBytes,
        };
    }
}
