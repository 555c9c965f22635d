using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using PbsDatastore.Core;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Memory;
using PbsDatastore.Core.Native;
using PbsDatastore.Core.Store;

namespace PbsDatastore.Bench;

/// <summary>
/// `build.ps1 Bench -Scale` (opt-in, not in CI): synthetic stores of about 1 M and 10 M unique chunks, each operation
/// run in a child process for its peak RSS (VmHWM, minus that of the same child on an empty store), beside its floor
/// measured in the same run on the same store:
/// <list type="bullet">
/// <item>GC (real run; nothing is garbage): gcfloor.c, phase 1 + phase 2 (read, dedupe, utimensat; readdir + fstatat).</item>
/// <item>Space accounting, one group and the whole store: read all indexes + one statx per chunk of the set, in
/// directory order (as in the space-accounting benchmark).</item>
/// <item>Fast verify of every index (the verified-digest set across all of them): read all indexes + one statx
/// per unique chunk. Full verify decodes chunks, which synthetic chunk files cannot hold; the verify benchmark
/// measures it on real chunks.</item>
/// <item>Full verify of a sample, one snapshot of <see cref="SampleChunks"/> real chunks: the verify benchmark's floor
/// (read, decompress and SHA-256 the same chunk files on all cores).</item>
/// <item>Chunk-reference lookup of 16 digests: read all indexes.</item>
/// <item>Missing-chunk lookup (nothing is missing): read all indexes + list every chunk directory.</item>
/// </list>
/// Layout as the space-accounting benchmark: groups of 4 daily snapshots, a fixed index of 25206 chunks each, every
/// snapshot rewriting a random 10% (32,766 unique chunks a group). Chunk files are hard links to 4096 sparse 4 MiB
/// files (see <see cref="Root"/> for where): 10 M inodes would take about 10 GiB of a memory the team shares, a link
/// only its directory entry. A store is built only when the memory it needs (and as much again) is available.
/// Environment: PBS_BENCH_SCALE_ROUNDS (default 3) sets the runs per figure (median); PBS_BENCH_SCALE_DIR the
/// directory for the stores.
/// </summary>
public static class ScaleBenchmark
{
    public const string Argument = "--scale";
    public const string ChildArgument = "--scale-child";
    /// <summary>Builds one store of a given number of groups and keeps it (to study an operation by hand).</summary>
    public const string BuildArgument = "--scale-build";

    private const int SnapshotsPerGroup = 4, ChunksPerIndex = 25206, ChangedPerSnapshot = ChunksPerIndex / 10;
    private const int ChunksPerGroup = ChunksPerIndex + (SnapshotsPerGroup - 1) * ChangedPerSnapshot;
    private const long ChunkSize = 4 << 20;
    private const int LinkTargets = 4096;
    /// <summary>Real chunks (compressed, 1-4 MiB of data each) in each store, for full verify on a sample.</summary>
    private const int SampleChunks = 128;
    private const string SampleIndex = "vm/sample/2024-03-01T10:00:00Z/drive-scsi0.img.didx";

    /// <summary>Runs the benchmark, handing each row to <paramref name="print"/> as soon as it is measured.</summary>
    public static void Run(BenchContext context, Action<BenchRow> print)
    {
        var rounds = int.TryParse(Environment.GetEnvironmentVariable("PBS_BENCH_SCALE_ROUNDS"), out var r) && r > 0 ? r : 3;
        var gcFloor = GarbageCollectionBench.FloorProgram.Compile(context.RepoRoot);
        var root = Root(context.WorkDir);
        Console.Error.WriteLine($"scale: stores in {root} ({StatFs(root, "%T")})");
        var times = new Dictionary<(string Op, string Label), (double Time, double Floor)>();
        try
        {
            var empty = Path.Combine(root, "empty");
            FilesystemBackend.Create("empty", empty);
            var baseline = new Dictionary<string, long>();

            // Builds and measures one store; returns its path (null when memory is short), which the caller removes.
            string? Measure(int groups)
            {
                var unique = (long)groups * ChunksPerGroup + SampleChunks;
                var label = $"{unique / 1e6:F1}M";
                var need = NeededBytes(groups);
                var available = MemAvailable();
                if (available < 2 * need)
                {
                    Console.WriteLine($"scale: {label} chunks skipped - needs about {need >> 30} GiB of memory twice over, {available >> 30} GiB available");
                    return null;
                }
                var store = Path.Combine(root, $"store-{groups}");
                var (files, groupNames, allNames, samplePaths) = Build(store, groups);
                var load = LoadAverage();

                // Warm caches and compile once; then the rounds.
                ReadAll(store, files);
                StatAll(store, allNames);
                var read = Median(rounds, () => Time(() => ReadAll(store, files)));
                var statGroup = Median(rounds, () => Time(() => StatAll(store, groupNames)));
                var statAll = Median(rounds, () => Time(() => StatAll(store, allNames)));

                void Row(string op, string floorLabel, double floor, long chunks = 0)
                {
                    if (chunks == 0) chunks = unique;
                    baseline.TryGetValue(op, out var b);
                    if (b == 0) baseline[op] = b = Median(1, () => Child(op, empty).Rss);
                    var runs = Enumerable.Range(0, rounds).Select(_ => Child(op, store)).ToList();
                    var time = runs.Select(x => x.Seconds).Order().ElementAt(runs.Count / 2);
                    var rss = runs.Max(x => x.Rss) - b;
                    times[(op, label)] = (time, floor);
                    print(new BenchRow("scale", $"{op} {label} (wall)", time, "s", floor, $"{floorLabel}, median of {rounds}, load {load}→{LoadAverage()}"));
                    print(new BenchRow("scale", $"{op} {label} peak RSS per chunk", rss / (double)chunks, "B", 0,
                        $"{rss >> 20} MiB above the child's baseline {b >> 20} MiB") { Ratio = double.NaN });
                }

                if (gcFloor is not null)
                {
                    gcFloor.Run(store, 1, unique, unique);
                    var floor = Median(rounds, () => gcFloor.Run(store, 1, unique, unique).Elapsed + gcFloor.Run(store, 2, unique, unique).Elapsed);
                    Row("gc", "C floor phase 1 + phase 2", floor);
                }
                Row("measure-group", $"read all indexes + statx {ChunksPerGroup} chunks", read + statGroup);
                Row("measure-store", $"read all indexes + statx {unique} chunks", read + statAll);
                Row("verify-fast", $"read all indexes + statx {unique} chunks", read + statAll);
                Row("chunk-reference", "read all indexes", read);
                var list = Median(rounds, () => Time(() => ListChunkDirectories(store)));
                Row("chunk-reference-missing", "read all indexes + list every chunk directory", read + list);
                var threads = Math.Min(Environment.ProcessorCount, VerifyTuning.MaxThreads);
                VerifyBenchmark.Floor(samplePaths, threads);
                Row("verify-sample", $"read+zstd+sha256 of its {SampleChunks} chunks, {threads} threads",
                    Median(rounds, () => Time(() => VerifyBenchmark.Floor(samplePaths, threads))), SampleChunks);
                return store;
            }

            void Remove(string? store)
            {
                if (store is null) return;
                var sw = Stopwatch.StartNew();
                Directory.Delete(store, true);
                Console.Error.WriteLine($"scale: removed {store} in {sw.Elapsed.TotalSeconds:F1} s");
            }

            Remove(Measure(32));
            Remove(Measure(320));
            // The sample is the same size in both stores: no 10M/1M row for it.
            foreach (var op in new[] { "gc", "measure-group", "measure-store", "verify-fast", "chunk-reference", "chunk-reference-missing" })
                if (times.TryGetValue((op, "1.0M"), out var s) && times.TryGetValue((op, "10.5M"), out var l))
                    print(new BenchRow("scale", $"{op} 10M/1M", l.Time / s.Time, "x", 11,
                        string.Create(CultureInfo.InvariantCulture, $"target: at most 11 (10x the chunks); its floor's: {l.Floor / s.Floor:F2}")));
        }
        finally
        {
            if (root != context.WorkDir) Directory.Delete(root, true);
        }
    }

    /// <summary>
    /// Where both stores live (both sizes in one place, so that their times compare): the directory
    /// PBS_BENCH_SCALE_DIR names (build.ps1 mounts a tmpfs there when it runs as root), else /dev/shm when it has
    /// the inodes for the largest store (on tmpfs every link takes one), else the work directory on disk, where 10 M
    /// chunk names do not stay cached and stat times measure the disk.
    /// </summary>
    private static string Root(string workDir)
    {
        const long largest = 320L * ChunksPerGroup + 70_000; // the 10.5 M store, built once the 1 M one is gone
        var named = Environment.GetEnvironmentVariable("PBS_BENCH_SCALE_DIR");
        foreach (var candidate in string.IsNullOrEmpty(named) ? ["/dev/shm"] : new[] { named })
        {
            if (!Directory.Exists(candidate)) continue;
            var free = long.TryParse(StatFs(candidate, "%d"), out var n) ? n : 0;
            // 0: a file system without an inode limit.
            if (free != 0 && free < largest * 12 / 10)
            {
                Console.Error.WriteLine($"scale: {candidate} has {free} free inodes, the 10M store needs {largest}");
                continue;
            }
            return Directory.CreateDirectory(Path.Combine(candidate, $"pbs-scale-{Environment.ProcessId}")).FullName;
        }
        return workDir;
    }

    /// <summary>A figure of the file system holding <paramref name="path"/> (stat -f's format).</summary>
    private static string StatFs(string path, string format)
    {
        var psi = new ProcessStartInfo("stat", ["-f", "-c", format, path]) { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        return output;
    }

    /// <summary>
    /// Bytes of index files and chunk directory entries a store of <paramref name="groups"/> groups takes: a link on
    /// tmpfs costs the kernel about 385 bytes (its dentry and the external name; measured by Slab in /proc/meminfo).
    /// </summary>
    private static long NeededBytes(int groups)
        => (long)groups * SnapshotsPerGroup * (IndexFile.HeaderSize + 32L * ChunksPerIndex) + (long)groups * ChunksPerGroup * 400;

    private static long MemAvailable()
    {
        var line = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemAvailable:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    private static string LoadAverage() => File.ReadAllText("/proc/loadavg").Split(' ')[0];

    private static double Time(Action action) => BenchContext.Time(action).TotalSeconds;

    private static T Median<T>(int count, Func<T> measure)
    {
        var values = Enumerable.Range(0, count).Select(_ => measure()).Order().ToList();
        return values[count / 2];
    }

    /// <summary>Runs one operation in a child process; its own wall time (without process start) and its peak RSS.</summary>
    private static (double Seconds, long Rss) Child(string op, string store)
    {
        var self = Environment.ProcessPath!;
        var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(typeof(ScaleBenchmark).Assembly.Location);
        psi.ArgumentList.Add(ChildArgument);
        psi.ArgumentList.Add(op);
        psi.ArgumentList.Add(store);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"scale child {op} failed: {output}");
        var parts = output.Trim().Split(' ');
        return (double.Parse(parts[0], CultureInfo.InvariantCulture), long.Parse(parts[1], CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// Entry point of the child: one operation with default options but the memory limit, then "seconds
    /// peak-rss-bytes" (run by hand with a smaller store and limit to study the peak).
    /// </summary>
    public static int RunChild(string op, string store, long memoryLimit = DigestPartitions.DefaultMemoryLimit)
    {
        var state = NullTaskState.Instance;
        var sw = Stopwatch.StartNew();
        switch (op)
        {
            case "gc":
                GarbageCollection.Run(store, new GarbageCollectionOptions { MemoryLimit = memoryLimit }, state);
                break;
            case "measure-group":
                SpaceAccounting.Measure(store, [new AccountingMember("vm/0", "vm/0")], state, memoryLimit);
                break;
            case "measure-store":
                SpaceAccounting.Measure(store, [new AccountingMember("store", "")], state, memoryLimit);
                break;
            case "verify-fast":
            {
                using var backend = IndexPass.OpenStore(store);
                var tuning = new VerifyTuning();
                var verifier = new ChunkVerifier(backend, null, tuning, dryRun: true, ChunkVerifier.SeenSetBudget(memoryLimit, tuning, fast: true));
                byte[]? buffer = null;
                foreach (var file in IndexPass.ListIndexFiles(backend, state))
                {
                    var path = Path.Combine(store, file.RelativePath);
                    if (verifier.VerifyIndexFast(IndexFile.Open(path, ref buffer), file.RelativePath) is { } error)
                        throw new InvalidOperationException(error.Message);
                }
                break;
            }
            case "verify-sample":
            {
                if (!File.Exists(Path.Combine(store, SampleIndex))) break; // the empty store of the baseline
                using var backend = IndexPass.OpenStore(store);
                var tuning = new VerifyTuning();
                var verifier = new ChunkVerifier(backend, null, tuning, dryRun: true, ChunkVerifier.SeenSetBudget(memoryLimit, tuning, fast: false));
                var result = verifier.VerifyIndexChunks(IndexFile.Open(Path.Combine(store, SampleIndex)), CryptMode.None, SampleIndex, state);
                if (result.Errors != 0 || result.ChunksLoaded != SampleChunks)
                    throw new InvalidOperationException($"the sample did not verify: {result.Errors} errors, {result.ChunksLoaded} chunks");
                break;
            }
            case "chunk-reference":
            {
                using var backend = IndexPass.OpenStore(store);
                var probe = IndexPass.ListIndexFiles(backend, state).FirstOrDefault(f => f.RelativePath != SampleIndex); // a synthetic index: the sample has too few entries
                var index = probe is null ? null : IndexFile.Open(Path.Combine(store, probe.RelativePath));
                var digests = index is null ? [] : Enumerable.Range(0, 16).Select(i => index.DigestAt(i * 97)).ToArray();
                ChunkReferences.Find(backend, digests, state);
                break;
            }
            case "chunk-reference-missing":
            {
                using var datastore = Datastore.Open(store);
                ChunkReferences.FindMissing(datastore, state, memoryLimit);
                break;
            }
            default:
                throw new ArgumentException($"unknown operation {op}");
        }
        var seconds = sw.Elapsed.TotalSeconds;
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        var rss = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{seconds} {rss}"));
        return 0;
    }

    /// <summary>
    /// Writes the index files and links every unique chunk name to one of <see cref="LinkTargets"/> sparse chunk
    /// files, then the sample's real chunks and index; returns the index paths (NUL-terminated, relative to the
    /// store), the chunk names of group vm/0 and of the whole store, sorted (directory order), and the sample's
    /// chunk files.
    /// </summary>
    internal static (byte[][] Files, byte[] GroupNames, byte[] AllNames, List<string> SamplePaths) Build(string store, int groups)
    {
        var sw = Stopwatch.StartNew();
        var backend = FilesystemBackend.Create(Path.GetFileName(store), store);
        var chunks = Path.Combine(store, ".chunks");
        var targets = Path.Combine(store, "targets");
        Directory.CreateDirectory(targets);
        for (var t = 0; t < LinkTargets; t++)
        {
            using var f = File.OpenHandle(Path.Combine(targets, t.ToString(CultureInfo.InvariantCulture)), FileMode.CreateNew, FileAccess.Write);
            RandomAccess.SetLength(f, ChunkSize);
        }
        var files = new ConcurrentBag<byte[]>();
        var linked = (long)groups * ChunksPerGroup;
        var all = new ChunkDigest[linked + SampleChunks];
        var options = new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount };
        Parallel.For(0, groups, options, g =>
        {
            var random = new Random(20240301 + g);
            var data = new byte[IndexFile.HeaderSize + 32 * ChunksPerIndex];
            FixedIndex.MagicBytes.CopyTo(data);
            BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(64), ChunksPerIndex * ChunkSize);
            BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(72), ChunkSize);
            random.NextBytes(data.AsSpan(IndexFile.HeaderSize));
            var n = (long)g * ChunksPerGroup;
            var positions = Enumerable.Range(0, ChunksPerIndex).ToArray();
            for (var s = 0; s < SnapshotsPerGroup; s++)
            {
                IEnumerable<int> fresh = positions;
                if (s > 0)
                {
                    random.Shuffle(positions);
                    fresh = positions.Take(ChangedPerSnapshot).ToArray();
                    foreach (var position in fresh)
                        random.NextBytes(data.AsSpan(IndexFile.HeaderSize + 32 * position, 32));
                }
                foreach (var position in fresh)
                    all[n++] = new ChunkDigest(data.AsSpan(IndexFile.HeaderSize + 32 * position, 32));
                var rel = $"vm/{g}/2024-03-{s + 1:00}T10:00:00Z/drive-scsi0.img.fidx";
                var path = Path.Combine(store, rel);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllBytes(path, data);
                files.Add(System.Text.Encoding.ASCII.GetBytes(rel + "\0"));
            }
        });
        Parallel.For(0, linked / 65536 + 1, options, block =>
        {
            for (var i = block * 65536L; i < Math.Min(linked, (block + 1) * 65536L); i++)
            {
                var hex = all[i].ToString();
                if (Libc.Link(Path.Combine(targets, (i % LinkTargets).ToString(CultureInfo.InvariantCulture)), Path.Combine(chunks, hex[..4], hex)) != 0)
                    throw new InvalidOperationException($"link failed: errno {Libc.LastErrno}");
            }
        });
        var (sample, samplePaths, _) = VerifyBenchmark.BuildChunks(backend, Path.Combine(store, SampleIndex), SampleChunks);
        for (var i = 0; i < SampleChunks; i++)
            all[linked + i] = sample.DigestAt(i);
        files.Add(System.Text.Encoding.ASCII.GetBytes(SampleIndex + "\0"));
        var group = all.AsSpan(0, ChunksPerGroup).ToArray();
        Array.Sort(group);
        Array.Sort(all);
        Console.Error.WriteLine($"scale: built {files.Count} index files and {all.Length} chunk names in {store} in {sw.Elapsed.TotalSeconds:F1} s");
        return ([.. files], SpaceAccountingBenchmark.Names(group), SpaceAccountingBenchmark.Names(all), samplePaths);
    }

    /// <summary>Every name of every chunk prefix directory (getdents64, on one thread), nothing kept.</summary>
    private static void ListChunkDirectories(string store)
    {
        using var backend = IndexPass.OpenStore(store);
        for (var prefix = 0; prefix < ChunkLayout.PrefixCount; prefix++)
        {
            if (backend.OpenChunkDirectory(prefix, out var directory) != 0) continue;
            using (directory)
                while (directory!.MoveNext()) { }
        }
    }

    private static void ReadAll(string store, byte[][] files) => SpaceAccountingBenchmark.ReadAll(store, files);

    private static void StatAll(string store, byte[] names) => SpaceAccountingBenchmark.StatAll(store, names);}
