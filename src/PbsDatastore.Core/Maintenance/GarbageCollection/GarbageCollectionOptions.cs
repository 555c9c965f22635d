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

    /// <summary>
    /// Also remove chunk writers' temp files (<c>.chunks/xxxx/&lt;hex&gt;.tmp_XXXXXX</c>, left by a killed writer) whose
    /// last write is before the cutoff; PBS's own GC leaves them forever.
    /// </summary>
    public bool RemoveStaleTempFiles { get; init; }

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
