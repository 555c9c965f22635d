using System.Diagnostics;
using System.Globalization;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Locking;
using PbsDatastore.Core.Memory;
using PbsDatastore.Core.S3;
using PbsDatastore.Core.Store;

namespace PbsDatastore.Core.Maintenance;

/// <summary>
/// PBS's garbage collection (§7, addendum §2) as an external process may run it: exclusive chunk-store lock, atime
/// safety check, phase 1 marks every chunk any index references (each unique chunk touched once), phase 2 sweeps
/// chunk files whose atime is before the cutoff, summary lines and <c>.gc-status</c> as PBS writes them.
/// A dry run computes the same figures without touching, removing or locking anything.
/// </summary>
public static partial class GarbageCollection
{
    public const string WorkerType = "garbage_collection";
    internal const int Phase1Activity = 1, Phase2Activity = 2;

    /// <summary>
    /// Runs a garbage collection on an opened datastore: refused by maintenance modes that forbid writes (a dry run
    /// is a read), with the datastore's name and its <c>gc-atime-cutoff</c> / <c>gc-atime-safety-check</c> tuning.
    /// </summary>
    public static GarbageCollectionResult Run(Datastore datastore, GarbageCollectionOptions options, ITaskState state)
    {
        var operation = options.DryRun ? DatastoreOperation.Read : DatastoreOperation.Write;
        datastore.CheckOperation(operation);
        RefuseNestedDatastore(datastore);
        // Counted where PBS counts operations, so that PBS does not take the store for idle meanwhile.
        using var registration = datastore.Config is null ? null : ActiveOperations.Register(datastore.Name, operation);
        var settings = WithDatastoreSettings(datastore, options);
        using var lease = datastore.LeaseBackend();
        return datastore.Backend is S3Backend s3 ? RunS3(s3, settings, state) : Run(datastore.Backend, settings, state);
    }

    /// <summary>
    /// Unreferenced chunks of an opened datastore, with its configured cutoff; for an S3 store the bucket's chunk
    /// objects its collection would judge unreferenced (its directory is only a cache).
    /// </summary>
    public static IReadOnlyList<UnreferencedChunk> FindUnreferencedChunks(Datastore datastore, GarbageCollectionOptions options, ITaskState state)
    {
        datastore.CheckOperation(DatastoreOperation.Read);
        var settings = WithDatastoreSettings(datastore, options);
        using var lease = datastore.LeaseBackend();
        return datastore.Backend is S3Backend s3 ? FindUnreferencedObjects(s3, settings, state) : FindUnreferencedChunks(datastore.Backend, settings, state);
    }

    /// <summary>
    /// PBS ≥ 3.3.0 refuses GC on a datastore whose directory contains another configured datastore or lies inside
    /// one: the outer store's walk would take the inner store's indexes for its own. Checked against the
    /// datastore.cfg of the moment, as PBS does when the GC starts.
    /// </summary>
    private static void RefuseNestedDatastore(Datastore datastore)
    {
        if (datastore.Config is null || !File.Exists(PbsPaths.DatastoreConfigFile)) return;
        var config = DatastoreConfig.Load();
        var self = config.TryGet(datastore.Name) ?? datastore.Config;
        if (self.FindNesting(config.Entries) is var (_, reason))
            throw new PbsException("GcNestedDatastore", PbsErrorKind.InvalidOperation,
                $"garbage collection of datastore '{datastore.Name}' ({self.Path}) refused for safety: {reason}", datastore.Name);
    }

    /// <summary>The name and the GC tuning options (PBS ≥ 3.3.7) of the datastore's datastore.cfg section.</summary>
    internal static GarbageCollectionOptions WithDatastoreSettings(Datastore datastore, GarbageCollectionOptions options)
    {
        var tuning = datastore.Tuning;
        return options with
        {
            DatastoreName = options.DatastoreName ?? datastore.Name,
            ConfiguredName = datastore.Config is null ? null : datastore.Name,
            ConfiguredAtimeCutoff = tuning.GcAtimeCutoff,
            ConfiguredAtimeSafetyCheck = tuning.GcAtimeSafetyCheck,
        };
    }

    /// <summary>A garbage collection of the store at a path, outside datastore.cfg (tests, benchmarks).</summary>
    internal static GarbageCollectionResult Run(string storePath, GarbageCollectionOptions options, ITaskState state)
    {
        using var store = OpenPath(storePath, options);
        return Run(store, options, state);
    }

    private static FilesystemBackend OpenPath(string storePath, GarbageCollectionOptions options)
        => FilesystemBackend.Open(DatastoreNameOf(storePath, options), Path.IsPathRooted(storePath) ? storePath : Path.GetFullPath(storePath));

    /// <summary>Runs a garbage collection (or with <see cref="GarbageCollectionOptions.DryRun"/> computes what it would do).</summary>
    internal static GarbageCollectionResult Run(IDatastoreBackend store, GarbageCollectionOptions options, ITaskState state)
    {
        var cutoff = ValidateCutoff(options.EffectiveAtimeCutoff);
        var storePath = store.BasePath;
        var name = options.DatastoreName ?? store.Name;
        IDisposable? exclusive = null;
        ProcessLocker? locker = null;
        if (options.DryRun)
        {
            state.Log("Dry run: nothing is touched or removed; the figures are what a garbage collection started now would report");
            if (ProcessLocker.For(storePath).FindConflictingHolder() is { } holder)
                state.Warn(holder.Exclusive
                    ? $"another process (pid {holder.Pid}) is running a garbage collection on this datastore; a real run would fail now"
                    : $"a PBS writer (pid {holder.Pid}) holds the chunk store lock shared; a real run would fail now");
        }
        else
        {
            locker = ProcessLocker.For(storePath);
            exclusive = locker.TryExclusive();
        }
        try
        {
            if (Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(storePath))).StartsWith('.'))
                state.Warn($"datastore directory '{storePath}' starts with '.': PBS's own garbage collection would find no index in it and delete every chunk");
            if (!options.DryRun)
                CheckAtimeUpdates(store, options, state);

            var upid = options.DryRun ? null : Upid.Create(WorkerType, name, options.AuthId).ToString();
            var phase1Start = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            var oldestWriter = locker?.OldestSharedGuardTime ?? phase1Start;
            var minAtime = phase1Start - (long)cutoff.TotalSeconds;
            if (oldestWriter < minAtime) minAtime = oldestWriter - 300;
            if (options.AtimeCutoff is not null || options.ConfiguredAtimeCutoff is not null)
                state.Log($"Using access time cutoff {FormatSpan(cutoff)}, minimum access time is {DateTimeOffset.FromUnixTimeSeconds(minAtime):yyyy-MM-dd'T'HH:mm:ss'Z'}");

            state.Log("Start GC phase1 (mark used chunks)");
            Stopwatch? sw = null;
            var mode = options.DryRun ? SweepMode.DryRun : SweepMode.Remove;
            var (mark, sweep) = MarkAndSweep(store, options, state,
                m => new Sweep(store, mode, m, minAtime, oldestWriter, Parallelism(options), state, options.RemoveStaleTempFiles), () =>
            {
                state.Log("Start GC phase2 (sweep unused chunks)");
                sw = Stopwatch.StartNew();
            }, out var phase1);
            // A dry run in several passes sweeps within phase 1, which then includes its first sweep.
            var phase2 = sw?.Elapsed ?? TimeSpan.Zero;

            return Conclude(storePath, name, options, state, upid, mark, sweep.Totals, new RunTimes(phase1Start, minAtime, cutoff, phase1, phase2),
                options.RemoveStaleTempFiles ? $"Removed stale chunk temp files: {sweep.RemovedTempFiles} ({HumanByte.Format(sweep.RemovedTempBytes)})" : null,
                removedTempFiles: sweep.RemovedTempFiles, removedTempBytes: sweep.RemovedTempBytes);
        }
        finally
        {
            exclusive?.Dispose();
        }
    }

    /// <summary>What a sweep counted: the figures of PBS's status and of the result's reasons.</summary>
    internal readonly record struct SweepTotals(long DiskBytes, long DiskChunks, long RemovedChunks, long RemovedChunkBytes,
        long RemovedBad, long RemovedBadBytes, long PendingChunks, long PendingChunkBytes, long StillBad, long PendingBadBytes);

    internal readonly record struct RunTimes(long Phase1Start, long MinAtime, TimeSpan Cutoff, TimeSpan Phase1, TimeSpan Phase2);

    /// <summary>
    /// The end of every run: PBS's status and summary lines (plus <paramref name="extraLog"/>), `.gc-status` unless a
    /// dry run, and the result object.
    /// </summary>
    private static GarbageCollectionResult Conclude(string storePath, string name, GarbageCollectionOptions options, ITaskState state,
        string? upid, MarkResult mark, SweepTotals t, RunTimes times, string? extraLog = null, long removedTempFiles = 0,
        long removedTempBytes = 0, string? bucket = null, S3RequestCount? s3Requests = null, IReadOnlyList<string>? s3RemovedKeys = null)
    {
        var status = new GarbageCollectionStatus
        {
            Upid = upid,
            IndexFileCount = mark.IndexFileCount,
            IndexDataBytes = mark.IndexDataBytes,
            DiskBytes = t.DiskBytes,
            DiskChunks = t.DiskChunks,
            RemovedBytes = t.RemovedChunkBytes + t.RemovedBadBytes,
            RemovedChunks = t.RemovedChunks,
            PendingBytes = t.PendingChunkBytes + t.PendingBadBytes,
            PendingChunks = t.PendingChunks,
            RemovedBad = t.RemovedBad,
            StillBad = t.StillBad,
        };
        foreach (var line in SummaryLines(status))
            state.Log(line);
        if (extraLog != null) state.Log(extraLog);
        if (!options.DryRun)
        {
            // PBS ignores a failure to write the status; say so instead of failing a finished collection.
            try { status.Write(storePath); }
            catch (PbsException e) { state.Warn($"unable to write {GarbageCollectionStatus.FileName}: {e.Message}"); }
        }
        return new GarbageCollectionResult
        {
            Datastore = name,
            Path = storePath,
            DryRun = options.DryRun,
            Status = status,
            IndexEntries = mark.IndexEntries,
            UniqueChunks = mark.UniqueChunks,
            StrangePaths = mark.StrangePaths,
            MissingChunks = mark.Missing,
            RemovedTempFiles = removedTempFiles,
            RemovedTempBytes = removedTempBytes,
            Reasons =
            [
                new(GarbageCollectionReason.UnreferencedPastCutoff, t.RemovedChunks, t.RemovedChunkBytes, true),
                new(GarbageCollectionReason.UnreferencedWithinGrace, t.PendingChunks, t.PendingChunkBytes, false),
                new(GarbageCollectionReason.BadPastCutoff, t.RemovedBad, t.RemovedBadBytes, true),
                new(GarbageCollectionReason.BadWithinGrace, t.StillBad, t.PendingBadBytes, false),
            ],
            Phase1Start = DateTimeOffset.FromUnixTimeSeconds(times.Phase1Start).LocalDateTime,
            MinimumAtime = DateTimeOffset.FromUnixTimeSeconds(times.MinAtime).LocalDateTime,
            AtimeCutoff = times.Cutoff,
            Phase1Duration = times.Phase1,
            Phase2Duration = times.Phase2,
            Bucket = bucket,
            S3Requests = s3Requests,
            S3RemovedKeys = s3RemovedKeys ?? [],
        };
    }

    /// <summary>
    /// Every chunk-store file no index references, with what a garbage collection started now would do with it.
    /// Read-only: touches nothing and takes no lock (the answer is a snapshot; a running backup's new chunks appear
    /// here with fresh atimes and are not due for removal).
    /// </summary>
    internal static IReadOnlyList<UnreferencedChunk> FindUnreferencedChunks(string storePath, GarbageCollectionOptions options, ITaskState state)
    {
        using var store = OpenPath(storePath, options);
        return FindUnreferencedChunks(store, options, state);
    }

    internal static IReadOnlyList<UnreferencedChunk> FindUnreferencedChunks(IDatastoreBackend store, GarbageCollectionOptions options, ITaskState state)
    {
        var cutoff = ValidateCutoff(options.EffectiveAtimeCutoff);
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var (_, sweep) = MarkAndSweep(store, options with { DryRun = true }, state,
            m => new Sweep(store, SweepMode.List, m, now - (long)cutoff.TotalSeconds, now, Parallelism(options), state), null, out _);
        return sweep.Unreferenced;
    }

    /// <summary>A phase 2 that can be run one slice of the digest space (whole prefix directories) at a time.</summary>
    private interface ISliceSweep
    {
        /// <summary>Sweeps the slice; called again with the next one, it goes on as one sweep over both.</summary>
        void Run(DigestRange range);
    }

    /// <summary>
    /// Phase 1, then phase 2 (a <paramref name="newSweep"/> over the store's chunks, directories or bucket keys).
    /// A real run needs nothing of phase 1 but the touches (and <paramref name="afterMarking"/>), so it sweeps once
    /// after all marking passes; a dry run and the listing decide by the referenced set instead, so when the marking
    /// takes several passes (each a slice of whole prefix directories) they sweep each slice right after its pass,
    /// while its set is held. <paramref name="phase2Starting"/> runs before the first sweep.
    /// </summary>
    private static (MarkResult Mark, TSweep Sweep) MarkAndSweep<TSweep>(IDatastoreBackend store, GarbageCollectionOptions options,
        ITaskState state, Func<MarkResult, TSweep> newSweep, Action? phase2Starting, out TimeSpan phase1, Action<MarkResult>? afterMarking = null)
        where TSweep : class, ISliceSweep
    {
        var sw = Stopwatch.StartNew();
        TSweep? sweep = null;
        var mark = Mark(store, options, state, !options.DryRun ? null : pass =>
        {
            if (pass.Range.IsAll) return;
            if (sweep is null)
            {
                phase2Starting?.Invoke();
                sweep = newSweep(pass);
            }
            sweep.Run(pass.Range);
        });
        afterMarking?.Invoke(mark);
        phase1 = sw.Elapsed;
        if (!options.DryRun && mark.SetBytes > options.MemoryLimit / 8)
        {
            // The sweep decides by atime alone: the set's memory goes back before the sweep adds its own.
            mark.Referenced = null;
            DigestPartitions.ReleaseSlice();
        }
        if (mark.StrangePaths > 0)
            state.Log($"found (and marked) {mark.StrangePaths} index files outside of expected directory scheme");
        if (sweep is null)
        {
            phase2Starting?.Invoke();
            sweep = newSweep(mark);
            sweep.Run(DigestRange.All);
        }
        return (mark, sweep);
    }

    /// <summary>PBS's summary lines after phase 2 (§7.6), with HumanByte sizes and invariant two-decimal floats.</summary>
    public static IReadOnlyList<string> SummaryLines(GarbageCollectionStatus s)
    {
        var lines = new List<string>
        {
            $"Removed garbage: {HumanByte.Format(s.RemovedBytes)}",
            $"Removed chunks: {s.RemovedChunks}",
        };
        if (s.PendingBytes > 0) lines.Add($"Pending removals: {HumanByte.Format(s.PendingBytes)} (in {s.PendingChunks} chunks)");
        if (s.RemovedBad > 0) lines.Add($"Removed bad chunks: {s.RemovedBad}");
        if (s.StillBad > 0) lines.Add($"Leftover bad chunks: {s.StillBad}");
        lines.Add($"Original data usage: {HumanByte.Format(s.IndexDataBytes)}");
        if (s.IndexDataBytes > 0)
            lines.Add($"On-Disk usage: {HumanByte.Format(s.DiskBytes)} ({F2(s.DiskBytes * 100.0 / s.IndexDataBytes)}%)");
        lines.Add($"On-Disk chunks: {s.DiskChunks}");
        lines.Add($"Deduplication factor: {F2(s.DiskBytes > 0 ? (double)s.IndexDataBytes / s.DiskBytes : 1.0)}");
        if (s.DiskChunks > 0) lines.Add($"Average chunk size: {HumanByte.Format(s.DiskBytes / s.DiskChunks)}");
        return lines;
    }

    private static string F2(double value) => value.ToString("F2", CultureInfo.InvariantCulture);

    private static TimeSpan ValidateCutoff(TimeSpan cutoff)
    {
        if (cutoff < GarbageCollectionOptions.MinAtimeCutoff || cutoff > GarbageCollectionOptions.MaxAtimeCutoff || cutoff.Ticks % TimeSpan.TicksPerSecond != 0)
            throw new PbsException("InvalidAtimeCutoff", PbsErrorKind.InvalidArgument,
                $"access time cutoff {cutoff} is outside PBS's range of 1 minute to 2 days (whole seconds)", cutoff);
        return cutoff;
    }

    private static string DatastoreNameOf(string storePath, GarbageCollectionOptions options)
        => options.DatastoreName ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(storePath)));

    private static int Parallelism(GarbageCollectionOptions options)
        => Math.Clamp(options.Parallelism ?? Environment.ProcessorCount, 1, 64);

    /// <summary>"1d 5m" style, as PBS prints the cutoff span.</summary>
    private static string FormatSpan(TimeSpan span)
    {
        var parts = new List<string>();
        if (span.Days > 0) parts.Add($"{span.Days}d");
        if (span.Hours > 0) parts.Add($"{span.Hours}h");
        if (span.Minutes > 0) parts.Add($"{span.Minutes}m");
        if (span.Seconds > 0) parts.Add($"{span.Seconds}s");
        return string.Join(' ', parts);
    }
}
