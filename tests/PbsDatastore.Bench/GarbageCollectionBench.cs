using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using PbsDatastore.Core;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Native;

namespace PbsDatastore.Bench;

/// <summary>
/// Garbage collection on synthetic stores against the syscall floor, measured in the same run by gcfloor.c (compiled
/// here with the machine's C compiler): phase 1 floor = walk, read every index, de-duplicate, one utimensat per
/// unique chunk; phase 2 floor = readdir + fstatat of every chunk file. Stores: 200k chunks / 20 snapshots (each
/// a window of 30%, all chunks referenced), and 100k chunks / 30 snapshots each referencing 90%.
/// <para>
/// Fairness: GC and floor run on the same store in the same state. Nothing is garbage, so no run changes what the
/// next one sees; every run of phase 1 re-touches every chunk (the touch dirties the inode whether the atime moved
/// or not), and each phase 2 follows its own phase 1 exactly as in a GC. Caches are warm on both sides: one
/// untimed round of each first, then the file system is synced before every timed pair so neither side inherits
/// the other's dirty inodes; dropping caches is not attempted (needs root and hurts everyone on the machine).
/// Floor and GC alternate which goes first; the figure is the median of the rounds.
/// </para>
/// <para>
/// CPU: user + system seconds of the GC run against those of both floor phases. Unlike the elapsed-time ratios it
/// does not move with other load on the machine (the GC may use several threads; the floor uses one).
/// </para>
/// <para>
/// Memory: peak RSS (VmHWM) of a child process running one GC on the store, minus the same on an empty store (the
/// runtime and the module's baseline), per unique chunk. Target ≤ 200 bytes.
/// </para>
/// Environment: PBS_BENCH_GC_SCALE (e.g. 0.1) shrinks the stores; PBS_BENCH_GC_ROUNDS (default 5) sets the rounds;
/// PBS_BENCH_GC_DIR keeps the built stores there and reuses them in later runs.
/// </summary>
public sealed class GarbageCollectionBench : IBenchmark
{
    /// <summary>Argument that makes the bench process a memory-measuring child (see <see cref="PeakRssChild"/>).</summary>
    public const string PeakRssArgument = "--gc-peak-rss";

    private const double TargetBytesPerChunk = 200;

    public string Name => "gc";

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        var scale = double.TryParse(Environment.GetEnvironmentVariable("PBS_BENCH_GC_SCALE"), CultureInfo.InvariantCulture, out var s) ? s : 1.0;
        var rounds = int.TryParse(Environment.GetEnvironmentVariable("PBS_BENCH_GC_ROUNDS"), out var r) && r > 0 ? r : 5;
        var keepDir = Environment.GetEnvironmentVariable("PBS_BENCH_GC_DIR");
        var floor = FloorProgram.Compile(context.RepoRoot);
        if (floor is null) yield break;

        var empty = Path.Combine(context.WorkDir, "gc-empty");
        Directory.CreateDirectory(Path.Combine(empty, ".chunks"));
        File.WriteAllBytes(Path.Combine(empty, ".lock"), []);
        var baseline = Median(3, () => PeakRss(empty));

        foreach (var (chunks, snapshots, share) in new[] { (200_000, 20, 0.3), (100_000, 30, 0.9) })
        {
            var n = (int)(chunks * scale);
            var label = $"{n / 1000}k chunks/{snapshots} snaps@{share * 100:F0}%";
            var store = Path.Combine(keepDir ?? context.WorkDir, $"gc-{n}-{snapshots}-{share * 100:F0}");
            var unique = BuildOrReuse(store, n, snapshots, share);
            var loadBefore = LoadAverage();

            // Untimed round: warms dentry, inode and page caches for both sides (and the JIT for the module).
            floor.Run(store, 1, unique, n);
            floor.Run(store, 2, unique, n);
            RunGc(store, unique);

            var p1 = new List<double>(); var p2 = new List<double>(); var cpu = new List<double>(); var whole = new List<double>();
            var f1 = new List<double>(); var f2 = new List<double>(); var floorCpu = new List<double>(); var floorWhole = new List<double>();
            for (var round = 0; round < rounds; round++)
            {
                for (var side = 0; side < 2; side++)
                {
                    Sync(store);
                    if ((side ^ round % 2) == 0)
                    {
                        var (e1, c1) = floor.Run(store, 1, unique, n);
                        var (e2, c2) = floor.Run(store, 2, unique, n);
                        f1.Add(e1);
                        f2.Add(e2);
                        floorWhole.Add(e1 + e2);
                        floorCpu.Add(c1 + c2);
                    }
                    else
                    {
                        var before = Process.GetCurrentProcess().TotalProcessorTime;
                        var result = RunGc(store, unique);
                        cpu.Add((Process.GetCurrentProcess().TotalProcessorTime - before).TotalSeconds);
                        p1.Add(result.Phase1Duration.TotalSeconds);
                        p2.Add(result.Phase2Duration.TotalSeconds);
                        whole.Add(result.Phase1Duration.TotalSeconds + result.Phase2Duration.TotalSeconds);
                    }
                }
            }
            var peak = Median(3, () => PeakRss(store));
            var loadAfter = LoadAverage();

            var how = $"median of {rounds}, warm caches, load {loadBefore}→{loadAfter}";
            yield return new BenchRow(Name, $"whole GC {label}", Median(whole), "s", Median(floorWhole), $"C: both phases below ({how})");
            yield return new BenchRow(Name, $"phase 1 {label}", Median(p1), "s", Median(f1), $"C: read indexes, dedupe, utimensat per unique chunk ({how})");
            yield return new BenchRow(Name, $"phase 2 {label}", Median(p2), "s", Median(f2), $"C: readdir + fstatat per chunk file ({how})");
            yield return new BenchRow(Name, $"CPU, both phases {label}", Median(cpu), "s", Median(floorCpu), "C: user + system CPU of both floor phases (load-independent)");
            yield return new BenchRow(Name, $"peak RSS per unique chunk {label}", (peak - baseline) / (double)unique, "B",
                TargetBytesPerChunk, $"target; above the module's baseline peak RSS of {baseline / (1024 * 1024)} MiB");
            if (keepDir is null) Directory.Delete(store, true);
        }
    }

    private static GarbageCollectionResult RunGc(string store, long unique)
    {
        var workers = int.TryParse(Environment.GetEnvironmentVariable("PBS_BENCH_GC_WORKERS"), out var w) ? w : (int?)null;
        var result = GarbageCollection.Run(store, new GarbageCollectionOptions { Parallelism = workers }, NullTaskState.Instance);
        if (result.UniqueChunks != unique || result.RemovedChunks != 0 || result.Status.DiskChunks != unique)
            throw new InvalidOperationException($"GC saw {result.UniqueChunks} unique chunks and removed {result.RemovedChunks}, expected {unique} and 0");
        return result;
    }

    /// <summary>Entry point of the child process: one GC on the store, then its peak RSS in bytes on stdout.</summary>
    public static int PeakRssChild(string store)
    {
        GarbageCollection.Run(store, new GarbageCollectionOptions(), NullTaskState.Instance);
        Console.WriteLine(ReadStatus("VmHWM").ToString(CultureInfo.InvariantCulture));
        return 0;
    }

    private static long PeakRss(string store)
    {
        var self = Environment.ProcessPath!;
        var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(typeof(GarbageCollectionBench).Assembly.Location);
        psi.ArgumentList.Add(PeakRssArgument);
        psi.ArgumentList.Add(store);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"memory child failed: {output}");
        return long.Parse(output.Trim(), CultureInfo.InvariantCulture);
    }

    private static long ReadStatus(string key)
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(key + ":", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    private static string LoadAverage() => File.ReadAllText("/proc/loadavg").Split(' ')[0];

    private static void Sync(string store)
    {
        var fd = Libc.Open(store, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        if (fd < 0) return;
        Libc.Syncfs(fd);
        Libc.Close(fd);
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        return values.Count % 2 == 1 ? values[values.Count / 2] : (values[values.Count / 2 - 1] + values[values.Count / 2]) / 2;
    }

    private static long Median(int count, Func<long> measure)
    {
        var values = Enumerable.Range(0, count).Select(_ => measure()).Order().ToList();
        return values[count / 2];
    }

    /// <summary>Builds the store unless a complete one of the same shape is there; returns its unique referenced chunks.</summary>
    private static long BuildOrReuse(string store, int chunkCount, int snapshots, double share)
    {
        var marker = Path.Combine(store, ".bench-unique-chunks");
        if (File.Exists(marker)) return long.Parse(File.ReadAllText(marker), CultureInfo.InvariantCulture);
        if (Directory.Exists(store)) Directory.Delete(store, true);
        var unique = BuildStore(store, chunkCount, snapshots, share);
        File.WriteAllText(marker, unique.ToString(CultureInfo.InvariantCulture));
        return unique;
    }

    /// <summary>Creates the store; returns the number of distinct chunks its indexes reference.</summary>
    private static int BuildStore(string store, int chunkCount, int snapshots, double share)
    {
        var chunks = Path.Combine(store, ".chunks");
        for (var i = 0; i < 65536; i++) Directory.CreateDirectory(Path.Combine(chunks, i.ToString("x4", CultureInfo.InvariantCulture)));
        File.WriteAllBytes(Path.Combine(store, ".lock"), []);
        var random = new Random(42);
        var digests = new byte[chunkCount][];
        var content = new byte[256];
        for (var i = 0; i < chunkCount; i++)
        {
            digests[i] = new byte[32];
            random.NextBytes(digests[i]);
            var hex = Convert.ToHexStringLower(digests[i]);
            File.WriteAllBytes(Path.Combine(chunks, hex[..4], hex), content);
        }
        var referenced = new HashSet<int>();
        var perSnapshot = (int)(chunkCount * share);
        for (var s = 0; s < snapshots; s++)
        {
            // A contiguous window of the chunk list, rotated per snapshot: consecutive snapshots share most chunks.
            var offset = (int)((long)s * chunkCount / snapshots);
            var entries = new byte[perSnapshot * 32];
            for (var e = 0; e < perSnapshot; e++)
            {
                var c = (offset + e) % chunkCount;
                referenced.Add(c);
                digests[c].CopyTo(entries, e * 32);
            }
            var dir = Path.Combine(store, "vm", "100", DateTimeOffset.FromUnixTimeSeconds(1_700_000_000 + s * 86400L).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
            Directory.CreateDirectory(dir);
            File.WriteAllBytes(Path.Combine(dir, "drive-scsi0.img.fidx"), FixedIndex(entries, perSnapshot));
        }
        return referenced.Count;
    }

    internal static byte[] FixedIndex(byte[] entries, int count)
    {
        const long chunkSize = 4 * 1024 * 1024;
        var file = new byte[4096 + entries.Length];
        Convert.FromHexString("2f7f41ed91fd0fcd").CopyTo(file, 0);
        RandomNumberGenerator.Fill(file.AsSpan(8, 16));
        BinaryPrimitives.WriteInt64LittleEndian(file.AsSpan(24), 1_700_000_000);
        SHA256.HashData(entries).CopyTo(file, 32);
        BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan(64), (ulong)(count * chunkSize));
        BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan(72), chunkSize);
        entries.CopyTo(file, 4096);
        return file;
    }

    /// <summary>gcfloor.c compiled into the bench output directory.</summary>
    internal sealed class FloorProgram(string exe)
    {
        private static readonly string[] Compilers = ["cc", "gcc", "clang"];

        /// <summary>Compiles the floor; null (after saying why) when the machine has no C compiler.</summary>
        public static FloorProgram? Compile(string repoRoot)
        {
            var source = Path.Combine(repoRoot, "tests", "PbsDatastore.Bench", "gcfloor.c");
            var exe = Path.Combine(AppContext.BaseDirectory, "gcfloor");
            var candidates = Environment.GetEnvironmentVariable("CC") is { Length: > 0 } cc ? [cc] : Compilers;
            foreach (var compiler in candidates)
            {
                var psi = new ProcessStartInfo(compiler, ["-O2", "-o", exe, source]) { RedirectStandardError = true };
                Process p;
                try { p = Process.Start(psi)!; }
                catch (System.ComponentModel.Win32Exception) { continue; } // not installed
                using (p)
                {
                    var err = p.StandardError.ReadToEnd();
                    p.WaitForExit();
                    if (p.ExitCode != 0) throw new InvalidOperationException($"{compiler} failed to compile {source}: {err}");
                }
                return new FloorProgram(exe);
            }
            Console.WriteLine($"gc: skipped - no C compiler found ({string.Join(", ", candidates)}); the GC floor program " +
                $"{source} must be compiled in the same run. Install gcc (apt-get install gcc) or set CC.");
            return null;
        }

        /// <summary>Runs one phase of the floor; checks it did the same work as GC; returns its elapsed and CPU seconds.</summary>
        public (double Elapsed, double Cpu) Run(string store, int phase, long unique, long chunkFiles)
        {
            var psi = new ProcessStartInfo(exe, [store, phase.ToString(CultureInfo.InvariantCulture)])
            { RedirectStandardOutput = true, RedirectStandardError = true };
            using var p = Process.Start(psi)!;
            var errTask = p.StandardError.ReadToEndAsync();
            var output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            var err = errTask.Result.Trim();
            if (p.ExitCode != 0) throw new InvalidOperationException($"floor program failed: {err}");
            var expected = phase == 1 ? $"touched {unique} files 0" : $"touched 0 files {chunkFiles}";
            if (err != expected) throw new InvalidOperationException($"floor phase {phase} did other work than GC: '{err}', expected '{expected}'");
            var figures = output.Split(' ', StringSplitOptions.TrimEntries);
            return (double.Parse(figures[0], CultureInfo.InvariantCulture), double.Parse(figures[1], CultureInfo.InvariantCulture));
        }
    }
}
