using PbsDatastore.Core.Store;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using PbsDatastore.Core;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Native;

namespace PbsDatastore.Bench;

/// <summary>
/// Space accounting over a synthetic store of about 2^20 unique chunks: 32 VM groups of 4 daily snapshots, each a
/// fixed index of 25206 chunks where every snapshot rewrites a random 10% of the previous one's positions with new
/// chunks (3.2M references, 100 MiB of index entries). Every chunk file exists (sparse, 4 MiB each), as in a real
/// store; the store lives on /dev/shm when there is one, because a million creates on a disk file system would
/// dominate the run.
/// Floors, measured in the same run: (a) reading every index file once, in full, in parallel on all cores, into
/// one reused buffer per thread (the issue's floor); (b) the same plus one statx of each chunk file of the measured
/// set, relative to `.chunks` with the names prepared, in parallel. Exclusive bytes need the size of each chunk of
/// the measured set, so (b) is the fair floor. Floor and measurement alternate call by call (see
/// <see cref="Interleaved"/>): on a shared machine, figures measured seconds apart see different loads.
/// </summary>
public sealed class SpaceAccountingBenchmark : IBenchmark
{
    private const int Groups = 32, SnapshotsPerGroup = 4, ChunksPerIndex = 25206, ChangedPerSnapshot = ChunksPerIndex / 10;
    private const int ChunksPerGroup = ChunksPerIndex + (SnapshotsPerGroup - 1) * ChangedPerSnapshot;
    private const long ChunkSize = 4 << 20;
    private const int NameSize = 70; // `xxxx/<64 hex>` and a NUL
    private const int Rounds = 5;
    private const double RoundSeconds = 2;

    public string Name => "space-accounting";

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        var root = Directory.Exists("/dev/shm")
            ? Directory.CreateDirectory($"/dev/shm/pbs-bench-{Environment.ProcessId}").FullName
            : context.WorkDir;
        var store = Path.Combine(root, "accounting-store");
        try
        {
            return Measure(store);
        }
        finally
        {
            var sw = Stopwatch.StartNew();
            Directory.Delete(root == context.WorkDir ? store : root, true);
            Console.Error.WriteLine($"space-accounting: removed the store in {sw.Elapsed.TotalSeconds:F1} s");
        }
    }

    private static List<BenchRow> Measure(string store)
    {
        var (files, groupChunks, allChunks) = Build(store);
        var uniqueChunks = (long)Groups * ChunksPerGroup;

        var load = File.ReadAllText("/proc/loadavg").Split(' ')[0];
        ReadAll(store, files); // warm the page cache and the JIT
        StatAll(store, allChunks);
        SpaceUsage group = null!, whole = null!;
        var (measureGroup, groupFloor, statGroup, readFloor) = Interleaved(
            () => group = SpaceAccounting.Measure(store, [new AccountingMember("vm/0", "vm/0")], NullTaskState.Instance),
            () => ReadAll(store, files), () => StatAll(store, groupChunks));
        Check(group, ChunksPerGroup);
        var (measureStore, storeFloor, statStore, _) = Interleaved(
            () => whole = SpaceAccounting.Measure(store, [new AccountingMember("store", "")], NullTaskState.Instance),
            () => ReadAll(store, files), () => StatAll(store, allChunks));
        Check(whole, uniqueChunks);

        const string name = "space-accounting";
        var read = $"(a) read {files.Length} indexes once ({Environment.ProcessorCount} cores, median of {Rounds}, load {load}→{File.ReadAllText("/proc/loadavg").Split(' ')[0]})";
        var readGroup = $"(b) (a) + statx {groupChunks.Length / NameSize} chunks";
        var readStore = $"(b) (a) + statx {allChunks.Length / NameSize} chunks";
        return
        [
            new(name, "measure one group (wall)", measureGroup.Wall.TotalSeconds, "s", readFloor.TotalSeconds, read),
            new(name, "measure one group (wall)", measureGroup.Wall.TotalSeconds, "s", groupFloor.Wall.TotalSeconds, readGroup),
            new(name, "measure one group (CPU)", measureGroup.Cpu.TotalSeconds, "s", groupFloor.Cpu.TotalSeconds, readGroup + ", CPU"),
            new(name, "measure whole store (wall)", measureStore.Wall.TotalSeconds, "s", readFloor.TotalSeconds, read),
            new(name, "measure whole store (wall)", measureStore.Wall.TotalSeconds, "s", storeFloor.Wall.TotalSeconds, readStore),
            new(name, "measure whole store (CPU)", measureStore.Cpu.TotalSeconds, "s", storeFloor.Cpu.TotalSeconds, readStore + ", CPU"),
            new(name, "statx group's chunks alone (wall)", statGroup.TotalSeconds, "s", readFloor.TotalSeconds, read),
            new(name, "statx all chunks alone (wall)", statStore.TotalSeconds, "s", readFloor.TotalSeconds, read),
            new(name, "bytes per unique chunk, whole store", whole.TableBytes / (double)whole.ReferencedChunks, "B",
                200, $"target ({whole.ReferencedChunks} chunks)"),
            new(name, "bytes per unique chunk, one group", group.TableBytes / (double)group.ReferencedChunks, "B",
                200, $"target ({group.ReferencedChunks} chunks, with filter)"),
        ];
    }

    private static void Check(SpaceUsage usage, long chunks)
    {
        if (usage.ReferencedChunks != chunks || usage.ExclusiveChunks != chunks || usage.MissingChunks != 0 || usage.ExclusiveBytes != chunks * ChunkSize)
            throw new InvalidOperationException($"unexpected figures: {usage.ReferencedChunks} chunks, {usage.ExclusiveChunks} exclusive, " +
                $"{usage.MissingChunks} missing, {usage.ExclusiveBytes} bytes");
    }

    /// <summary>
    /// The operation beside its floor (read all indexes, then the stat) in each of <see cref="Rounds"/> rounds of about
    /// <see cref="RoundSeconds"/> per side; within a round the two alternate call by call, each going first in turn,
    /// so that the machine's load (a shared VM's neighbours come and go within seconds) hits both alike. Medians
    /// per run, wall and CPU (all threads).
    /// </summary>
    private static ((TimeSpan Wall, TimeSpan Cpu) Op, (TimeSpan Wall, TimeSpan Cpu) Floor, TimeSpan Stat, TimeSpan Read)
        Interleaved(Action op, Action read, Action stat)
    {
        var repeats = (int)Math.Ceiling(RoundSeconds / Math.Max(0.001, BenchContext.Time(op).TotalSeconds));
        List<TimeSpan> opWall = [], opCpu = [], floorWall = [], floorCpu = [], statWall = [], readWall = [];
        using var process = Process.GetCurrentProcess();
        TimeSpan Cpu()
        {
            process.Refresh();
            return process.TotalProcessorTime;
        }
        for (var round = 0; round < Rounds; round++)
        {
            TimeSpan opTime = default, opCpuTime = default, readTime = default, statTime = default, floorCpuTime = default;
            for (var i = 0; i < repeats * 2; i++)
            {
                var cpu = Cpu();
                if ((i + round) % 2 == 0)
                {
                    readTime += BenchContext.Time(read);
                    statTime += BenchContext.Time(stat);
                    floorCpuTime += Cpu() - cpu;
                }
                else
                {
                    opTime += BenchContext.Time(op);
                    opCpuTime += Cpu() - cpu;
                }
            }
            opWall.Add(opTime / repeats);
            opCpu.Add(opCpuTime / repeats);
            readWall.Add(readTime / repeats);
            statWall.Add(statTime / repeats);
            floorWall.Add((readTime + statTime) / repeats);
            floorCpu.Add(floorCpuTime / repeats);
        }
        return ((Median(opWall), Median(opCpu)), (Median(floorWall), Median(floorCpu)), Median(statWall), Median(readWall));
    }

    private static TimeSpan Median(List<TimeSpan> values) => values.Order().ElementAt(values.Count / 2);

    private static ParallelOptions AllCores => new() { MaxDegreeOfParallelism = Environment.ProcessorCount };

    /// <summary>
    /// Reads every index once, whole, with open/read/close relative to an open store directory, names prepared,
    /// into one buffer per thread: the cheapest plain way to see every digest.
    /// </summary>
    internal static unsafe void ReadAll(string store, byte[][] files)
    {
        var dir = Libc.Open(store, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        try
        {
            Parallel.ForEach(Partitioner.Create(0, files.Length, 1), AllCores, () => new byte[1 << 20], (range, _, buffer) =>
            {
                fixed (byte* p = files[range.Item1])
                {
                    var fd = Libc.OpenAt(dir, p, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
                    if (fd < 0) throw new InvalidOperationException("index missing");
                    fixed (byte* b = buffer)
                        while (Libc.Read(fd, b, buffer.Length) > 0) { }
                    Libc.Close(fd);
                }
                return buffer;
            }, _ => { });
        }
        finally
        {
            Libc.Close(dir);
        }
    }

    /// <summary>
    /// One statx per chunk file, relative to an open `.chunks`, names ready and sorted (directory by directory is
    /// the cheapest order): what sizing the chunks costs at least.
    /// </summary>
    internal static unsafe void StatAll(string store, byte[] names)
    {
        var chunks = Libc.Open(Path.Combine(store, ".chunks"), Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        try
        {
            Parallel.ForEach(Partitioner.Create(0, names.Length / NameSize, 4096), AllCores, range =>
            {
                Libc.Statx st;
                fixed (byte* p = names)
                    for (var i = range.Item1; i < range.Item2; i++)
                        if (Libc.StatxAt(chunks, p + i * NameSize, Libc.AT_SYMLINK_NOFOLLOW, Libc.STATX_BASIC_STATS, &st) != 0)
                            throw new InvalidOperationException("chunk file missing");
            });
        }
        finally
        {
            Libc.Close(chunks);
        }
    }

    /// <summary>
    /// Writes the index files (4096-byte header, then digests), the prefix directories and every chunk file;
    /// returns the index paths relative to the store and the chunk names relative to `.chunks` (both
    /// NUL-terminated), those of group vm/0 and all.
    /// </summary>
    private static (byte[][] Files, byte[] GroupChunks, byte[] AllChunks) Build(string store)
    {
        var sw = Stopwatch.StartNew();
        var chunkDir = Path.Combine(store, ".chunks");
        Parallel.For(0, 65536, AllCores, prefix => Directory.CreateDirectory(Path.Combine(chunkDir, prefix.ToString("x4"))));
        var random = new Random(20240301);
        var files = new List<byte[]>();
        var groupDigests = new HashSet<ChunkDigest>();
        var allDigests = new HashSet<ChunkDigest>();
        var data = new byte[IndexFile.HeaderSize + 32 * ChunksPerIndex];
        FixedIndex.MagicBytes.CopyTo(data);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(64), ChunksPerIndex * ChunkSize);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(72), ChunkSize);
        for (var g = 0; g < Groups; g++)
        {
            random.NextBytes(data.AsSpan(IndexFile.HeaderSize));
            for (var s = 0; s < SnapshotsPerGroup; s++)
            {
                if (s > 0)
                    foreach (var position in Enumerable.Range(0, ChunksPerIndex).OrderBy(_ => random.Next()).Take(ChangedPerSnapshot))
                        random.NextBytes(data.AsSpan(IndexFile.HeaderSize + 32 * position, 32));
                var rel = $"vm/{g}/2024-03-{s + 1:00}T10:00:00Z/drive-scsi0.img.fidx";
                var path = Path.Combine(store, rel);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllBytes(path, data);
                files.Add(System.Text.Encoding.ASCII.GetBytes(rel + "\0"));
                for (var i = 0; i < ChunksPerIndex; i++)
                {
                    var digest = new ChunkDigest(data.AsSpan(IndexFile.HeaderSize + 32 * i, 32));
                    allDigests.Add(digest);
                    if (g == 0) groupDigests.Add(digest);
                }
            }
        }
        // Created in backup order, as a real store's chunks are, not in the order they are stat'ed.
        var created = allDigests.ToArray();
        Parallel.ForEach(Partitioner.Create(0, created.Length, 4096), AllCores, range =>
        {
            for (var i = range.Item1; i < range.Item2; i++)
            {
                var hex = created[i].ToString();
                using var chunk = File.OpenHandle(Path.Combine(chunkDir, hex[..4], hex), FileMode.CreateNew, FileAccess.Write);
                RandomAccess.SetLength(chunk, ChunkSize);
            }
        });
        Console.Error.WriteLine($"space-accounting: built {files.Count} index files and {allDigests.Count} chunk files in " +
            $"{Path.GetDirectoryName(store)} in {sw.Elapsed.TotalSeconds:F1} s");
        return ([.. files], Names(groupDigests), Names(allDigests));
    }

    internal static byte[] Names(IEnumerable<ChunkDigest> digests)
    {
        var sorted = digests.Order().ToList();
        var names = new byte[sorted.Count * NameSize];
        var i = 0;
        foreach (var digest in sorted)
            ChunkLayout.WriteChunkPath(digest, [], names.AsSpan(i++ * NameSize, NameSize));
        return names;
    }
}
