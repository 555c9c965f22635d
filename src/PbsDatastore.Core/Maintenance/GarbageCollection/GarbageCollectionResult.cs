namespace PbsDatastore.Core.Maintenance;

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
    /// <summary>Stale chunk temp files removed (or, in a dry run, that would be) with <see cref="GarbageCollectionOptions.RemoveStaleTempFiles"/>.</summary>
    public long RemovedTempFiles { get; init; }
    public long RemovedTempBytes { get; init; }
    public required IReadOnlyList<GarbageCollectionReasonTotal> Reasons { get; init; }

    // Local DateTime, not DateTimeOffset: the times must survive PowerShell serialization (jobs, remoting).
    public required DateTime Phase1Start { get; init; }
    /// <summary>Files with an atime before this are removed (unless referenced).</summary>
    public required DateTime MinimumAtime { get; init; }
    public required TimeSpan AtimeCutoff { get; init; }
    public required TimeSpan Phase1Duration { get; init; }
    public required TimeSpan Phase2Duration { get; init; }

    /// <summary>The bucket of an S3 store's collection; null for a filesystem store.</summary>
    public string? Bucket { get; init; }

    /// <summary>Requests the collection sent to the bucket (S3 stores).</summary>
    public S3.S3RequestCount? S3Requests { get; init; }

    /// <summary>Bucket keys deleted (in a dry run: that would be deleted) by an S3 store's collection.</summary>
    public IReadOnlyList<string> S3RemovedKeys { get; init; } = [];

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
    public required DateTime Atime { get; init; }
    public required bool IsBad { get; init; }
    /// <summary>True when a garbage collection started now would remove it (atime before the cutoff).</summary>
    public required bool WouldRemoveNow { get; init; }
}
