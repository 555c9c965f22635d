using PbsDatastore.Core.Memory;

namespace PbsDatastore.Core.Maintenance;

/// <summary>What a garbage collection is asked to do.</summary>
public sealed record GarbageCollectionOptions
{
    /// <summary>PBS's default cutoff: 24 h 5 min (1445 minutes).</summary>
    public static readonly TimeSpan DefaultAtimeCutoff = TimeSpan.FromMinutes(1445);

    /// <summary>PBS's range for <c>gc-atime-cutoff</c>: 1 minute … 2 days.</summary>
    public static readonly TimeSpan MinAtimeCutoff = TimeSpan.FromMinutes(1), MaxAtimeCutoff = TimeSpan.FromMinutes(2880);

    /// <summary>Datastore name (UPID worker ID, messages); defaults to the directory name.</summary>
    public string? DatastoreName { get; init; }

    /// <summary>
    /// The datastore's name in datastore.cfg; null when it is not configured there. PBS keys the store's runtime
    /// files by it (the move journal GC drains), so they are only used when the name is certain.
    /// </summary>
    public string? ConfiguredName { get; init; }

    /// <summary>Explicit cutoff; null = <see cref="ConfiguredAtimeCutoff"/> or the default.</summary>
    public TimeSpan? AtimeCutoff { get; init; }

    /// <summary>The datastore's <c>tuning gc-atime-cutoff</c> from datastore.cfg, if set.</summary>
    public TimeSpan? ConfiguredAtimeCutoff { get; init; }

    /// <summary>The datastore's <c>tuning gc-atime-safety-check</c> (default true).</summary>
    public bool ConfiguredAtimeSafetyCheck { get; init; } = true;

    /// <summary>Skip the atime safety check (the caller is warned).</summary>
    public bool SkipAtimeCheck { get; init; }

    /// <summary>Dry run: touch nothing, remove nothing, take no lock; report what a run now would do.</summary>
    public bool DryRun { get; init; }

    /// <summary>Worker threads for touching and sweeping; default: processor count.</summary>
    public int? Parallelism { get; init; }

    /// <summary>Auth-ID recorded in the UPID; default root@pam for root, else &lt;user&gt;@pam.</summary>
    public string? AuthId { get; init; }

    /// <summary>
    /// Bytes phase 1's set of referenced digests may hold; a store with more unique chunks than fit is marked in
    /// several passes over the index files, each owning a slice of the digest space (same result, more reading).
    /// </summary>
    public long MemoryLimit { get; init; } = DigestPartitions.DefaultMemoryLimit;

    /// <summary>Test seam: mark in exactly this many passes, whatever the memory limit.</summary>
    internal int? Partitions { get; init; }

    /// <summary>The cutoff in effect: explicit, else configured, else 24 h 5 min.</summary>
    public TimeSpan EffectiveAtimeCutoff => AtimeCutoff ?? ConfiguredAtimeCutoff ?? DefaultAtimeCutoff;
}

/// <summary>Why the sweep removes or keeps an unreferenced file.</summary>
public enum GarbageCollectionReason
{
    /// <summary>Unreferenced chunk with atime before the cutoff: removed.</summary>
    UnreferencedPastCutoff,
    /// <summary>Unreferenced chunk still inside the grace period: kept (pending).</summary>
    UnreferencedWithinGrace,
    /// <summary><c>.N.bad</c> file with atime before the cutoff: removed.</summary>
    BadPastCutoff,
    /// <summary><c>.N.bad</c> file inside the grace period: kept (still bad).</summary>
    BadWithinGrace,
}

/// <summary>Files and bytes for one <see cref="GarbageCollectionReason"/>.</summary>
public sealed record GarbageCollectionReasonTotal(GarbageCollectionReason Reason, long Files, long Bytes, bool Removed);

/// <summary>A chunk an index references but the chunk store lacks (PBS's missing-chunk warning).</summary>
public sealed record MissingChunk(string Digest, string IndexPath);

/// <summary>The outcome of a garbage collection (or of a dry run: what a run now would do).</summary>
public sealed class GarbageCollectionResult
{
    public required string Datastore { get; init; }
    public required string Path { get; init; }
    public required bool DryRun { get; init; }
    public required GarbageCollectionStatus Status { get; init; }

    public string? Upid => Status.Upid;
    public long IndexFileCount => Status.IndexFileCount;
    public long IndexDataBytes => Status.IndexDataBytes;
    public long DiskBytes => Status.DiskBytes;
    public long DiskChunks => Status.DiskChunks;
    public long RemovedBytes => Status.RemovedBytes;
    public long RemovedChunks => Status.RemovedChunks;
    public long PendingBytes => Status.PendingBytes;
    public long PendingChunks => Status.PendingChunks;
    public long RemovedBad => Status.RemovedBad;
    public long StillBad => Status.StillBad;

    /// <summary>Index entries read (references, duplicates included).</summary>
    public required long IndexEntries { get; init; }
    /// <summary>Distinct chunks referenced; each was touched once.</summary>
    public required long UniqueChunks { get; init; }
    /// <summary>Index files whose parent is outside the namespace/group/snapshot scheme (still marked).</summary>
    public required long StrangePaths { get; init; }
    public required IReadOnlyList<MissingChunk> MissingChunks { get; init; }
    public required IReadOnlyList<GarbageCollectionReasonTotal> Reasons { get; init; }

    public required DateTimeOffset Phase1Start { get; init; }
    /// <summary>Files with an atime before this are removed (unless referenced).</summary>
    public required DateTimeOffset MinimumAtime { get; init; }
    public required TimeSpan AtimeCutoff { get; init; }
    public required TimeSpan Phase1Duration { get; init; }
    public required TimeSpan Phase2Duration { get; init; }

    /// <summary>PBS's summary lines (§7.6), as logged.</summary>
    public IReadOnlyList<string> Summary => GarbageCollection.SummaryLines(Status);
}

/// <summary>A chunk-store file no index references (for scripts: what GC would do with it now).</summary>
public sealed record UnreferencedChunk
{
    public required string Digest { get; init; }
    public required string Name { get; init; }
    public required string Path { get; init; }
    public required long Size { get; init; }
    public required DateTimeOffset Atime { get; init; }
    public required bool IsBad { get; init; }
    /// <summary>True when a garbage collection started now would remove it (atime before the cutoff).</summary>
    public required bool WouldRemoveNow { get; init; }
}
