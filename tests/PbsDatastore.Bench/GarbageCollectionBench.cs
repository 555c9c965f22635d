using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using PbsDatastore.Core;
using PbsDatastore.Core.Maintenance;

namespace PbsDatastore.Bench;

/// <summary>
/// Garbage collection on synthetic stores (200k chunks / 20 snapshots each referencing 30%, and 100k chunks / 30
/// snapshots each referencing 90%). Floors, measured in the same run by a small C program compiled here: phase 1 =
/// walk, read every index, de-duplicate, one utimensat per unique chunk; phase 2 = readdir + fstatat of every
/// chunk file. Memory: peak RSS growth during the GC per unique chunk (target ≤ 200 bytes).
/// Environment PBS_BENCH_GC_SCALE (e.g. 0.1) shrinks the stores for quick runs.
/// </summary>
public sealed class GarbageCollectionBench : IBenchmark
{
    private const int Rounds = 2;

    public string Name => "gc";

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        var scale = double.TryParse(Environment.GetEnvironmentVariable("PBS_BENCH_GC_SCALE"), CultureInfo.InvariantCulture, out var s) ? s : 1.0;
        var floor = CompileFloor(context.WorkDir);
        foreach (var (chunks, snapshots, share) in new[] { (200_000, 20, 0.3), (100_000, 30, 0.9) })
        {
            var n = (int)(chunks * scale);
            var label = $"{n / 1000}k chunks/{snapshots} snapshots@{share:P0}";
            var store = Path.Combine(context.WorkDir, $"gc-{n}-{snapshots}");
            var unique = BuildStore(store, n, snapshots, share);

            // Warm the dentry and page caches once, then alternate module and floor runs; keep the best of each.
            RunFloor(floor, store, 1);
            RunFloor(floor, store, 2);
            double p1 = double.MaxValue, p2 = double.MaxValue, f1 = double.MaxValue, f2 = double.MaxValue, memory = 0;
            for (var round = 0; round < Rounds; round++)
            {
                var (result, peakGrowth) = MeasureGc(store);
                if (result.UniqueChunks != unique) throw new InvalidOperationException($"GC saw {result.UniqueChunks} unique chunks, expected {unique}");
                p1 = Math.Min(p1, result.Phase1Duration.TotalSeconds);
                p2 = Math.Min(p2, result.Phase2Duration.TotalSeconds);
                memory = Math.Max(memory, (double)peakGrowth / unique);
                f1 = Math.Min(f1, RunFloor(floor, store, 1));
                f2 = Math.Min(f2, RunFloor(floor, store, 2));
            }
            yield return new BenchRow(Name, $"phase 1 {label}", p1, "s", f1, "C: read indexes, dedupe, utimensat per unique chunk");
            yield return new BenchRow(Name, $"phase 2 {label}", p2, "s", f2, "C: readdir + fstatat per chunk file");
            yield return new BenchRow(Name, $"peak RSS growth per unique chunk", memory, "B", 200, "target ≤ 200 B");
            Directory.Delete(store, true);
        }
    }

    /// <summary>Runs a GC and reports the growth of the peak RSS over the RSS before it (reset through clear_refs).</summary>
    private static (GarbageCollectionResult, long) MeasureGc(string store)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var before = ReadStatus("VmRSS");
        File.WriteAllText("/proc/self/clear_refs", "5"); // resets VmHWM to the current RSS
        var workers = int.TryParse(Environment.GetEnvironmentVariable("PBS_BENCH_GC_WORKERS"), out var w) ? w : (int?)null;
        var result = GarbageCollection.Run(store, new GarbageCollectionOptions { Parallelism = workers }, NullTaskState.Instance);
        return (result, ReadStatus("VmHWM") - before);
    }

    private static long ReadStatus(string key)
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(key + ":", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
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

    private static byte[] FixedIndex(byte[] entries, int count)
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

    private static double RunFloor(string exe, string store, int phase)
    {
        var psi = new ProcessStartInfo(exe, [store, phase.ToString(CultureInfo.InvariantCulture)]) { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"floor program failed: {output}");
        return double.Parse(output.Trim(), CultureInfo.InvariantCulture);
    }

    private static string CompileFloor(string workDir)
    {
        var source = Path.Combine(workDir, "gcfloor.c");
        var exe = Path.Combine(workDir, "gcfloor");
        File.WriteAllText(source, FloorSource);
        var psi = new ProcessStartInfo("cc", ["-O2", "-o", exe, source]) { RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"cc failed: {err}");
        return exe;
    }

    private const string FloorSource = """
        #define _GNU_SOURCE
        #include <dirent.h>
        #include <fcntl.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/stat.h>
        #include <time.h>
        #include <unistd.h>

        static unsigned char *table; static size_t cap, used;
        static int chunks_fd; static unsigned long touched;

        static int insert(const unsigned char *d) {
            size_t h; memcpy(&h, d + 8, sizeof h); h &= cap - 1;
            for (;; h = (h + 1) & (cap - 1)) {
                unsigned char *slot = table + h * 33;
                if (!slot[32]) { memcpy(slot, d, 32); slot[32] = 1; used++; return 1; }
                if (!memcmp(slot, d, 32)) return 0;
            }
        }

        static void grow(void) {
            unsigned char *old = table; size_t oldcap = cap;
            cap = cap ? cap * 2 : 1 << 16; used = 0; table = calloc(cap, 33);
            for (size_t i = 0; i < oldcap; i++) if (old[i * 33 + 32]) insert(old + i * 33);
            free(old);
        }

        static void touch(const unsigned char *d) {
            static const char hex[] = "0123456789abcdef"; char path[70];
            for (int i = 0; i < 32; i++) { path[5 + 2 * i] = hex[d[i] >> 4]; path[6 + 2 * i] = hex[d[i] & 15]; }
            memcpy(path, path + 5, 4); path[4] = '/'; path[69] = 0;
            struct timespec t[2] = { { 0, UTIME_NOW }, { 0, UTIME_OMIT } };
            utimensat(chunks_fd, path, t, AT_SYMLINK_NOFOLLOW); touched++;
        }

        static void mark_index(int dirfd, const char *name, int dynamic) {
            int fd = openat(dirfd, name, O_RDONLY); struct stat st; fstat(fd, &st);
            unsigned char *buf = malloc(st.st_size); size_t got = 0;
            while (got < (size_t)st.st_size) { ssize_t n = read(fd, buf + got, st.st_size - got); if (n <= 0) break; got += n; }
            close(fd);
            size_t stride = dynamic ? 40 : 32;
            for (size_t off = 4096 + stride - 32; off + 32 <= got; off += stride) {
                if (used * 2 >= cap) grow();
                if (insert(buf + off)) touch(buf + off);
            }
            free(buf);
        }

        static void walk(int fd) {
            DIR *d = fdopendir(fd); struct dirent *e;
            while ((e = readdir(d))) {
                if (e->d_name[0] == '.') continue;
                const char *dot = strrchr(e->d_name, '.');
                if (dot && (!strcmp(dot, ".fidx") || !strcmp(dot, ".didx"))) mark_index(dirfd(d), e->d_name, dot[1] == 'd');
                if (e->d_type == DT_DIR) walk(openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
            }
            closedir(d);
        }

        int main(int argc, char **argv) {
            struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);
            int store = open(argv[1], O_RDONLY | O_DIRECTORY); chunks_fd = openat(store, ".chunks", O_RDONLY | O_DIRECTORY);
            unsigned long files = 0;
            if (argv[2][0] == '1') { grow(); walk(store); }
            else for (int i = 0; i < 65536; i++) {
                char name[5]; snprintf(name, sizeof name, "%04x", i);
                int fd = openat(chunks_fd, name, O_RDONLY | O_DIRECTORY); if (fd < 0) continue;
                DIR *d = fdopendir(fd); struct dirent *e; struct stat st;
                while ((e = readdir(d))) { if (e->d_name[0] == '.') continue; if (!fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW)) files++; }
                closedir(d);
            }
            clock_gettime(CLOCK_MONOTONIC, &b);
            printf("%.6f\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
            fprintf(stderr, "touched %lu files %lu\n", touched, files);
            return 0;
        }
        """;
}
