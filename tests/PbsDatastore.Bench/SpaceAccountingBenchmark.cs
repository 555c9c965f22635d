using System.Buffers.Binary;
using System.Diagnostics;
using PbsDatastore.Core;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Maintenance;

namespace PbsDatastore.Bench;

/// <summary>
/// Space accounting over a synthetic store of about 2^20 unique chunks: 32 VM groups of 4 daily snapshots, each a
/// fixed index of 25206 chunks where every snapshot rewrites a random 10% of the previous one's positions with new
/// chunks (3.2M references, 100 MiB of index entries). Only index files are written (no chunk files), so each
/// chunk of the measured set costs a failed lstat and a failed prefix-directory open instead of one lstat.
/// The floor is reading every index file once, in parallel on all cores, as the accounting pass reads them.
/// </summary>
public sealed class SpaceAccountingBenchmark : IBenchmark
{
    private const int Groups = 32, SnapshotsPerGroup = 4, ChunksPerIndex = 25206, ChangedPerSnapshot = ChunksPerIndex / 10;
    private const int ChunksPerGroup = ChunksPerIndex + (SnapshotsPerGroup - 1) * ChangedPerSnapshot;
    private const int Repeats = 2;

    public string Name => "space-accounting";

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        var store = Path.Combine(context.WorkDir, "accounting-store");
        var files = Build(store);
        var uniqueChunks = (long)Groups * ChunksPerGroup;

        ReadAll(store, files); // warm the page cache for both
        var floor = Best(() => ReadAll(store, files));
        var group = new AccountingMember("vm/0", "vm/0");
        SpaceUsage usage = null!;
        var measureGroup = Best(() => usage = SpaceAccounting.Measure(store, [group], NullTaskState.Instance));
        if (usage.StoreChunks != uniqueChunks || usage.ExclusiveChunks != ChunksPerGroup || usage.MissingChunks != ChunksPerGroup)
            throw new InvalidOperationException($"unexpected figures: {usage.StoreChunks} chunks, {usage.ExclusiveChunks} exclusive");
        var measureStore = Best(() => usage = SpaceAccounting.Measure(store, [new AccountingMember("store", "")], NullTaskState.Instance));

        var label = $"read {files.Count} indexes once ({Environment.ProcessorCount} cores)";
        yield return new BenchRow(Name, "measure one group, 1M-chunk store", measureGroup.Wall.TotalSeconds, "s", floor.Wall.TotalSeconds, label);
        yield return new BenchRow(Name, "  same, CPU time", measureGroup.Cpu.TotalSeconds, "s", floor.Cpu.TotalSeconds, label + ", CPU");
        yield return new BenchRow(Name, "measure whole store (1M lstat)", measureStore.Wall.TotalSeconds, "s", floor.Wall.TotalSeconds, label);
        yield return new BenchRow(Name, "  same, CPU time", measureStore.Cpu.TotalSeconds, "s", floor.Cpu.TotalSeconds, label + ", CPU");
        yield return new BenchRow(Name, "unique chunks", usage.StoreChunks, "chunks", uniqueChunks, "built");
        yield return new BenchRow(Name, "digest table bytes per unique chunk", usage.TableBytes / (double)usage.StoreChunks, "B",
            200, "target");
        Directory.Delete(store, true);
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

    /// <summary>Writes the index files (4096-byte header, then digests) and an empty chunk store.</summary>
    private static List<string> Build(string store)
    {
        var sw = Stopwatch.StartNew();
        Directory.CreateDirectory(Path.Combine(store, ".chunks"));
        var random = new Random(20240301);
        var files = new List<string>();
        var data = new byte[IndexFile.HeaderSize + 32 * ChunksPerIndex];
        const long chunkSize = 4 << 20;
        FixedIndex.MagicBytes.CopyTo(data);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(64), ChunksPerIndex * chunkSize);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(72), chunkSize);
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
            }
        }
        Console.Error.WriteLine($"space-accounting: built {files.Count} index files in {sw.Elapsed.TotalSeconds:F1} s");
        return files;
    }
}
