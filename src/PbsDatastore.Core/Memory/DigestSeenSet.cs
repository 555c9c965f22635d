using PbsDatastore.Core.Formats;

namespace PbsDatastore.Core.Memory;

/// <summary>
/// A thread-safe set of digests already dealt with (verify's verified chunks), bounded by memory. It keeps only the
/// digests of a slice [0, <see cref="Bound"/>] of the digest space: while everything fits that is the whole space;
/// once the limit is reached the slice is halved and the digests above it are dropped. Membership is exact inside
/// the slice and "not seen" outside it, so a caller only ever redoes work it would skip with unbounded memory,
/// never skips work it must do. Digests are uniformly distributed: each halving frees about half the memory.
/// </summary>
public sealed class DigestSeenSet
{
    /// <summary>
    /// Bytes per digest at worst: a <see cref="HashSet{T}"/> entry and bucket just after growing (two slots a
    /// digest), and a share of the old arrays grown shards leave behind until they are returned.
    /// </summary>
    public const int MaxBytesPerDigest = 96;

    private const int ShardCount = 64;
    private readonly HashSet<ChunkDigest>[] _shards = new HashSet<ChunkDigest>[ShardCount];
    private readonly long _capacity;
    private readonly object _shrinkGate = new();
    private ulong _bound = ulong.MaxValue;
    private long _count;
    private long _outgrown;

    // A HashSet slot: the digest, its hash code and the next index, plus the int of its bucket.
    private const int BytesPerSlot = 44;

    public DigestSeenSet(long memoryLimit = DigestPartitions.DefaultMemoryLimit)
    {
        if (memoryLimit <= 0) throw new ArgumentOutOfRangeException(nameof(memoryLimit));
        _capacity = Math.Max(1, memoryLimit / MaxBytesPerDigest);
        for (var i = 0; i < ShardCount; i++) _shards[i] = new HashSet<ChunkDigest>();
    }

    /// <summary>Highest leading word still kept (<see cref="ulong.MaxValue"/> until the limit was first reached).</summary>
    public ulong Bound => Volatile.Read(ref _bound);

    /// <summary>Digests held.</summary>
    public long Count => Interlocked.Read(ref _count);

    /// <summary>Whether nothing was ever dropped: the set then holds every digest added.</summary>
    public bool IsComplete => Bound == ulong.MaxValue;

    private HashSet<ChunkDigest> ShardOf(in ChunkDigest digest) => _shards[(uint)digest.GetHashCode() % ShardCount];

    public bool Contains(in ChunkDigest digest)
    {
        if (digest.LeadingWord > Bound) return false;
        var shard = ShardOf(digest);
        lock (shard) return shard.Contains(digest);
    }

    /// <summary>Adds the digest if it lies in the kept slice; halves the slice when the limit is exceeded.</summary>
    public void Add(in ChunkDigest digest)
    {
        var shard = ShardOf(digest);
        int before, after;
        lock (shard)
        {
            // Read under the shard's lock: a shrink lowers the bound before it empties each shard under that lock.
            if (digest.LeadingWord > Bound) return;
            before = shard.EnsureCapacity(0);
            if (!shard.Add(digest)) return;
            after = shard.EnsureCapacity(0);
        }
        if (after != before) Outgrown(before);
        if (Interlocked.Increment(ref _count) > _capacity) Shrink();
    }

    /// <summary>
    /// A shard grew and left its old arrays behind. They are large objects, which the runtime collects only when
    /// its own budget says so, long after a set that keeps growing has doubled the peak: once they fill what
    /// <see cref="MaxBytesPerDigest"/> leaves beside the set itself, a compacting collection returns them, so
    /// that set and garbage together stay within the limit.
    /// </summary>
    private void Outgrown(int oldCapacity)
    {
        if (Interlocked.Add(ref _outgrown, (long)oldCapacity * BytesPerSlot) < _capacity * (MaxBytesPerDigest - 2 * BytesPerSlot)) return;
        Interlocked.Exchange(ref _outgrown, 0);
        DigestPartitions.ReleaseSlice();
    }

    /// <summary>Digests held, in no particular order (a copy).</summary>
    public IReadOnlyCollection<ChunkDigest> ToList()
    {
        var list = new List<ChunkDigest>();
        foreach (var shard in _shards)
            lock (shard) list.AddRange(shard);
        return list;
    }

    private void Shrink()
    {
        lock (_shrinkGate)
        {
            // Down to three quarters, so that a set at the limit does not halve again at the next add.
            while (Count > _capacity * 3 / 4 && Bound > 0)
            {
                var bound = Bound >> 1;
                Volatile.Write(ref _bound, bound);
                foreach (var shard in _shards)
                {
                    lock (shard)
                    {
                        var removed = shard.RemoveWhere(d => d.LeadingWord > bound);
                        if (removed > 0) shard.TrimExcess();
                        Interlocked.Add(ref _count, -removed);
                    }
                }
            }
            // The untrimmed arrays are garbage now, as large as the set was.
            Interlocked.Exchange(ref _outgrown, 0);
            DigestPartitions.ReleaseSlice();
        }
    }
}
