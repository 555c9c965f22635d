using System.Buffers.Binary;
using System.Diagnostics;
using PbsDatastore.Core;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Native;

namespace PbsDatastore.Bench;

/// <summary>
/// Space accounting over a synthetic store of about 2^20 unique chunks: 32 VM groups of 4 daily snapshots, each a
/// fixed index of 25206 chunks where every snapshot rewrites a random 10% of the previous one's positions with new
/// chunks (3.2M references, 100 MiB of index entries). The 65536 prefix directories exist, and the chunk files of
/// the measured group (sparse, 4 MiB each); the other groups' chunks are missing, which costs the whole-store
/// measurement a failed lookup each instead of a successful one.
/// Floors, measured in the same run: reading every index file once, in full, in parallel on all cores (the issue's
/// floor); and one statx of each chunk file of the group, relative to `.chunks` with the names prepared, in
/// parallel. Exclusive bytes need the size of each chunk of the measured set, so the fair floor of measuring a
/// group is the sum of both.
/// </summary>
public sealed class SpaceAccountingBenchmark : IBenchmark
{
    private const int Groups = 32, SnapshotsPerGroup = 4, ChunksPerIndex = 25206, ChangedPerSnapshot = ChunksPerIndex / 10;
    private const int ChunksPerGroup = ChunksPerIndex + (SnapshotsPerGroup - 1) * ChangedPerSnapshot;
    private const long ChunkSize = 4 << 20;
    private const int Repeats = 3;

    public string Name => "space-accounting";

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        var store = Path.Combine(context.WorkDir, "accounting-store");
        var (files, groupChunks) = Build(store);
        var uniqueChunks = (long)Groups * ChunksPerGroup;

        ReadAll(store, files); // warm the page cache for all
        StatAll(store, groupChunks);
        var readFloor = Best(() => ReadAll(store, files));
        var statFloor = Best(() => StatAll(store, groupChunks));
        var floor = (Wall: readFloor.Wall + statFloor.Wall, Cpu: readFloor.Cpu + statFloor.Cpu);

        SpaceUsage group = null!, whole = null!;
        var measureGroup = Best(() => group = SpaceAccounting.Measure(store, [new AccountingMember("vm/0", "vm/0")], NullTaskState.Instance));
        Check(group, ChunksPerGroup, missing: 0, ChunksPerGroup * ChunkSize);
        var measureStore = Best(() => whole = SpaceAccounting.Measure(store, [new AccountingMember("store", "")], NullTaskState.Instance));
        Check(whole, uniqueChunks, missing: uniqueChunks - ChunksPerGroup, ChunksPerGroup * ChunkSize);

        var read = $"read {files.Count} indexes once ({Environment.ProcessorCount} cores)";
        var both = $"same + statx {groupChunks.Count} chunk files once";
        yield return new BenchRow(Name, "measure one group (wall)", measureGroup.Wall.TotalSeconds, "s", floor.Wall.TotalSeconds, both);
        yield return new BenchRow(Name, "measure one group (CPU)", measureGroup.Cpu.TotalSeconds, "s", floor.Cpu.TotalSeconds, both + ", CPU");
        yield return new BenchRow(Name, "measure one group (wall)", measureGroup.Wall.TotalSeconds, "s", readFloor.Wall.TotalSeconds, read);
        yield return new BenchRow(Name, "statx floor alone (wall)", statFloor.Wall.TotalSeconds, "s", readFloor.Wall.TotalSeconds, read);
        yield return new BenchRow(Name, "measure whole store (wall)", measureStore.Wall.TotalSeconds, "s", readFloor.Wall.TotalSeconds,
            read + "; 1M-digest table, 1M statx");
        yield return new BenchRow(Name, "measure whole store (CPU)", measureStore.Cpu.TotalSeconds, "s", readFloor.Cpu.TotalSeconds,
            read + ", CPU");
        yield return new BenchRow(Name, "bytes per unique chunk, whole store", whole.TableBytes / (double)whole.ReferencedChunks, "B",
            200, $"target ({whole.ReferencedChunks} chunks)");
        yield return new BenchRow(Name, "bytes per unique chunk, one group", group.TableBytes / (double)group.ReferencedChunks, "B",
            200, $"target ({group.ReferencedChunks} chunks, with filter)");
        Directory.Delete(store, true);
    }

    private static void Check(SpaceUsage usage, long chunks, long missing, long bytes)
    {
        if (usage.ReferencedChunks != chunks || usage.ExclusiveChunks != chunks || usage.MissingChunks != missing || usage.ExclusiveBytes != bytes)
            throw new InvalidOperationException($"unexpected figures: {usage.ReferencedChunks} chunks, {usage.ExclusiveChunks} exclusive, " +
                $"{usage.MissingChunks} missing, {usage.ExclusiveBytes} bytes");
    }

    /// <summary>Best wall time and best CPU time (all threads) of a few runs: on a shared machine the CPU time is the steadier figure.</summary>
    private static (TimeSpan Wall, TimeSpan Cpu) Best(Action action)
    {
        var best = (Wall: TimeSpan.MaxValue, Cpu: TimeSpan.MaxValue);
        using var process = Process.GetCurrentProcess();
        for (var i = 0; i < Repeats; i++)
        {
            process.Refresh();
            var cpu = process.TotalProcessorTime;
            var wall = BenchContext.Time(action);
            process.Refresh();
            cpu = process.TotalProcessorTime - cpu;
            best = (wall < best.Wall ? wall : best.Wall, cpu < best.Cpu ? cpu : best.Cpu);
        }
        return best;
    }

    private static void ReadAll(string store, IReadOnlyList<string> files)
        => Parallel.ForEach(files, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
            f => GC.KeepAlive(IndexFile.Open(Path.Combine(store, f))));

    /// <summary>One statx per chunk file, relative to an open `.chunks`, names ready: what sizing the chunks costs at least.</summary>
    private static unsafe void StatAll(string store, IReadOnlyList<byte[]> names)
    {
        var chunks = Libc.Open(Path.Combine(store, ".chunks"), Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        try
        {
            Parallel.ForEach(System.Collections.Concurrent.Partitioner.Create(0, names.Count, 4096),
                new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, range =>
                {
                    Libc.Statx st;
                    for (var i = range.Item1; i < range.Item2; i++)
                        fixed (byte* p = names[i])
                            if (Libc.StatxAt(chunks, p, Libc.AT_SYMLINK_NOFOLLOW, Libc.STATX_BASIC_STATS, &st) != 0)
                                throw new InvalidOperationException("chunk file missing");
                });
        }
        finally
        {
            Libc.Close(chunks);
        }
    }

    /// <summary>
    /// Writes the index files (4096-byte header, then digests), the prefix directories and the chunk files of group
    /// vm/0; returns the index paths and the chunk names of vm/0 relative to `.chunks` (NUL-terminated).
    /// </summary>
    private static (List<string> Files, List<byte[]> GroupChunks) Build(string store)
    {
        var sw = Stopwatch.StartNew();
        var chunkDir = Path.Combine(store, ".chunks");
        for (var prefix = 0; prefix < 65536; prefix++)
            Directory.CreateDirectory(Path.Combine(chunkDir, prefix.ToString("x4")));
        var random = new Random(20240301);
        var files = new List<string>();
        var groupDigests = new HashSet<ChunkDigest>();
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
                files.Add(rel);
                if (g == 0)
                    for (var i = 0; i < ChunksPerIndex; i++)
                        groupDigests.Add(new ChunkDigest(data.AsSpan(IndexFile.HeaderSize + 32 * i, 32)));
            }
        }
        var names = new List<byte[]>();
        foreach (var digest in groupDigests)
        {
            var name = new byte[80];
            GarbageCollection.WriteChunkPath(digest, [], name);
            names.Add(name);
            using var chunk = File.Create(Path.Combine(chunkDir, System.Text.Encoding.ASCII.GetString(name, 0, 69)));
            chunk.SetLength(ChunkSize);
        }
        Console.Error.WriteLine($"space-accounting: built {files.Count} index files and {names.Count} chunk files in {sw.Elapsed.TotalSeconds:F1} s");
        return (files, names);
    }
}
