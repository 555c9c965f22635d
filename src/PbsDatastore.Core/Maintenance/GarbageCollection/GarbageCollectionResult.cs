namespace PbsDatastore.Core.Maintenance;

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
