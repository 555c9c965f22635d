using System.Globalization;

namespace PbsDatastore.Core.Hierarchy;

/// <summary>PBS's <c>chunk-order</c> tuning: the order verification loads an index's chunks in (spec §8.4).</summary>
public enum ChunkOrder
{
    /// <summary>By the chunk file's inode number (PBS's default): fewer seeks on rotating disks, one stat per chunk.</summary>
    Inode,

    /// <summary>Index order, without the stat pass.</summary>
    None,
}

/// <summary>PBS's <c>sync-level</c> tuning (spec §12.3): when written chunks and snapshots reach the disk.</summary>
public enum SyncLevel
{
    /// <summary>No explicit syncing.</summary>
    None,

    /// <summary>fsync every chunk file and its directory, and the snapshot's files.</summary>
    File,

    /// <summary>syncfs once before a backup counts as done (PBS's default).</summary>
    Filesystem,
}

/// <summary>
/// A datastore's <c>tuning</c> property string, parsed once with PBS's defaults; a value PBS would reject is an
/// InvalidDatastoreConfig error naming the store and the key (PBS refuses such a store rather than guessing).
/// </summary>
public sealed record DatastoreTuning
{
    /// <summary>PBS's range for <c>gc-atime-cutoff</c> in minutes, and its default (24 h 5 min).</summary>
    public const int MinGcAtimeCutoffMinutes = 1, MaxGcAtimeCutoffMinutes = 2880, DefaultGcAtimeCutoffMinutes = 1445;

    /// <summary>PBS accepts 1 to this many verification threads of either kind.</summary>
    public const int MaxVerificationThreads = 32;

    public const int MaxGcCacheCapacity = 8 * 1024 * 1024, DefaultGcCacheCapacity = 1024 * 1024;

    /// <summary>The defaults, as for a store without a <c>tuning</c> line.</summary>
    public static DatastoreTuning Default { get; } = new();

    public ChunkOrder ChunkOrder { get; init; } = ChunkOrder.Inode;
    public SyncLevel SyncLevel { get; init; } = SyncLevel.Filesystem;
    /// <summary><c>gc-atime-cutoff</c>; null when not set (GC then uses its default).</summary>
    public TimeSpan? GcAtimeCutoff { get; init; }
    public bool GcAtimeSafetyCheck { get; init; } = true;
    public int GcCacheCapacity { get; init; } = DefaultGcCacheCapacity;
    /// <summary><c>default-verification-readers</c>; null when not set.</summary>
    public int? DefaultVerificationReaders { get; init; }
    /// <summary><c>default-verification-workers</c>; null when not set.</summary>
    public int? DefaultVerificationWorkers { get; init; }

    /// <summary>Parses the sub-keys of a <c>tuning</c> property string; unknown keys are left for newer PBS versions.</summary>
    public static DatastoreTuning Parse(IReadOnlyDictionary<string, string> tuning, string datastore)
    {
        if (tuning.Count == 0) return Default;
        return new DatastoreTuning
        {
            ChunkOrder = tuning.GetValueOrDefault("chunk-order") switch
            {
                null or "inode" => ChunkOrder.Inode,
                "none" => ChunkOrder.None,
                var other => throw Invalid(datastore, $"tuning chunk-order '{other}' is not 'inode' or 'none'"),
            },
            SyncLevel = tuning.GetValueOrDefault("sync-level") switch
            {
                null or "filesystem" => SyncLevel.Filesystem,
                "file" => SyncLevel.File,
                "none" => SyncLevel.None,
                var other => throw Invalid(datastore, $"tuning sync-level '{other}' is not 'none', 'file' or 'filesystem'"),
            },
            GcAtimeCutoff = Number("gc-atime-cutoff", MinGcAtimeCutoffMinutes, MaxGcAtimeCutoffMinutes) is { } m ? TimeSpan.FromMinutes(m) : null,
            GcAtimeSafetyCheck = tuning.GetValueOrDefault("gc-atime-safety-check") switch
            {
                null or "1" or "true" or "yes" or "on" => true,
                "0" or "false" or "no" or "off" => false,
                var other => throw Invalid(datastore, $"tuning gc-atime-safety-check '{other}' is not a boolean"),
            },
            GcCacheCapacity = Number("gc-cache-capacity", 0, MaxGcCacheCapacity) ?? DefaultGcCacheCapacity,
            DefaultVerificationReaders = Number("default-verification-readers", 1, MaxVerificationThreads),
            DefaultVerificationWorkers = Number("default-verification-workers", 1, MaxVerificationThreads),
        };

        int? Number(string key, int min, int max)
        {
            if (tuning.GetValueOrDefault(key) is not { } text) return null;
            return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
                ? n
                : throw Invalid(datastore, $"tuning {key} '{text}' is not a number from {min} to {max}");
        }
    }

    private static PbsException Invalid(string datastore, string detail) =>
        new("InvalidDatastoreConfig", PbsErrorKind.InvalidData, $"datastore '{datastore}': {detail}", datastore);
}
