using System.Collections.Concurrent;
using System.Security.Cryptography;
using PbsDatastore.Core;
using PbsDatastore.Core.Backup;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Store;

namespace PbsDatastore.Bench;

/// <summary>
/// New-PbsSnapshot's ingest rate for a fixed and a dynamic archive (4 MiB chunks, into an empty chunk store), beside
/// a minimal loop doing the same work on the same file in the same run, with as many workers as the ingest uses:
/// read, cut (fixed pieces or PBS's chunker), SHA-256, zstd level 1, and each chunk not written before in the run
/// written to its file in a chunk store (temp file, write, rename, as PBS's replace_file) — no index, no locks,
/// no blob header. Neither side syncs: the store's tuning is `sync-level=none`. Median of 5 rounds, floor and
/// module alternating which goes first; the chunk files of the previous round are removed before each run, so
/// every chunk is new to both.
/// </summary>
public sealed class IngestBenchmark : IBenchmark
{
    private const int ChunkSize = 4 << 20;
    private const int InputBytes = 192 << 20;
    private const int Rounds = 5;

    public string Name => "ingest";

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        PbsPaths.RunRoot = Path.Combine(context.WorkDir, "run");
        PbsPaths.ConfigRoot = Path.Combine(context.WorkDir, "etc");
        var input = Path.Combine(context.WorkDir, "ingest-input.bin");
        WriteInput(input, InputBytes, seed: 42, zeros: true);

        // One store per side for all runs (creating 65536 chunk directories is slow).
        var storePath = Path.Combine(context.WorkDir, "store");
        FilesystemBackend.Create("bench", storePath);
        var store = Datastore.Open(storePath, "bench", DatastoreConfig.Parse($"datastore: bench\n\tpath {storePath}\n\ttuning sync-level=none\n"));
        var floorStore = Path.Combine(context.WorkDir, "floor-store");
        FilesystemBackend.Create("floor", floorStore);
        // Warm-up of both contenders (JIT tiers of the zstd and SHA paths, page cache).
        foreach (var type in new[] { ArchiveType.FixedIndex, ArchiveType.DynamicIndex })
        {
            Ingest(store, input, type, "warmup-");
            Floor(floorStore, input, type);
        }
        var load = File.ReadAllText("/proc/loadavg").Split(' ')[0];
        foreach (var type in new[] { ArchiveType.FixedIndex, ArchiveType.DynamicIndex })
        {
            var floors = new List<double>();
            var modules = new List<double>();
            for (var round = 0; round < Rounds; round++)
            {
                for (var side = 0; side < 2; side++)
                {
                    if ((side ^ round % 2) == 0)
                    {
                        RemoveChunkFiles(floorStore);
                        floors.Add(Floor(floorStore, input, type));
                    }
                    else
                    {
                        RemoveChunkFiles(storePath);
                        modules.Add(Ingest(store, input, type, $"r{round}-"));
                    }
                }
            }
            var (floor, module) = (Median(floors), Median(modules));
            var label = type == ArchiveType.FixedIndex ? "fixed" : "dynamic";
            yield return new BenchRow(Name, $"{label} archive, 4 MiB chunks", module, "MB/s", floor,
                $"read+cut+sha256+zstd1+write new chunk files, {Environment.ProcessorCount} workers, median of {Rounds}, load {load}→{File.ReadAllText("/proc/loadavg").Split(' ')[0]}")
            { Ratio = floor / module };
        }
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        return values[values.Count / 2];
    }

    /// <summary>Empties the chunk directories (the store's indexes stay: a later run finds none of its chunks).</summary>
    private static void RemoveChunkFiles(string store)
    {
        foreach (var file in Directory.EnumerateFiles(Path.Combine(store, ".chunks"), "*", SearchOption.AllDirectories))
            File.Delete(file);
    }

    /// <summary>Compressible like real data: runs of text, runs of random bytes, some zeros.</summary>
    private static void WriteInput(string path, int length, int seed, bool zeros)
    {
        var random = new Random(seed);
        var block = new byte[1 << 20];
        using var file = File.Create(path);
        for (var i = 0; i < length / block.Length; i++)
        {
            switch (i % 4)
            {
                case 0: random.NextBytes(block); break;
                case 1 when zeros: Array.Clear(block); break;
                default:
                    for (var j = 0; j < block.Length; j++) block[j] = (byte)('a' + random.Next(12));
                    break;
            }
            file.Write(block);
        }
    }

    private static double Ingest(Datastore store, string input, ArchiveType type, string groupPrefix)
    {
        var elapsed = BenchContext.Time(() =>
            {
                using var stream = new FileStream(input, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
                using var writer = SnapshotWriter.Begin(store, BackupNamespace.Root, BackupType.Host, groupPrefix + type, 1_700_000_000,
                    Authid.RootPam, null, NullTaskState.Instance);
                writer.AddArchive(type == ArchiveType.FixedIndex ? "disk.img.fidx" : "data.didx", stream, stream.Length, ChunkSize);
                writer.Finish();
            });
        return new FileInfo(input).Length / 1e6 / elapsed.TotalSeconds;
    }

    private static double Floor(string store, string input, ArchiveType type)
    {
        var options = new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount };
        var written = new ConcurrentDictionary<string, byte>();
        var chunks = Path.Combine(store, ".chunks");
        var elapsed = BenchContext.Time(() =>
        {
            using var stream = new FileStream(input, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
            Parallel.ForEach(type == ArchiveType.FixedIndex ? FixedPieces(stream) : ChunkerPieces(stream), options, piece =>
            {
                var hex = Convert.ToHexStringLower(SHA256.HashData(piece));
                using var compressor = new ZstdSharp.Compressor(1);
                var compressed = compressor.Wrap(piece);
                if (written.TryAdd(hex, 0))
                    AtomicFile.Replace(Path.Combine(chunks, hex[..4], hex), compressed);
            });
        });
        return InputBytes / 1e6 / elapsed.TotalSeconds;
    }

    private static IEnumerable<byte[]> FixedPieces(Stream stream)
    {
        while (true)
        {
            var buffer = new byte[ChunkSize];
            var n = stream.ReadAtLeast(buffer, ChunkSize, throwOnEndOfStream: false);
            if (n == 0) yield break;
            yield return n == ChunkSize ? buffer : buffer[..n];
        }
    }

    private static IEnumerable<byte[]> ChunkerPieces(Stream stream)
    {
        var chunker = new Chunker(ChunkSize);
        var pending = new MemoryStream();
        var buffer = new byte[1 << 20];
        int n;
        while ((n = stream.Read(buffer)) > 0)
        {
            var pos = 0;
            while (pos < n)
            {
                var cut = chunker.Scan(buffer.AsSpan(pos, n - pos));
                if (cut == 0)
                {
                    pending.Write(buffer, pos, n - pos);
                    break;
                }
                pending.Write(buffer, pos, cut);
                pos += cut;
                yield return pending.ToArray();
                pending.SetLength(0);
            }
        }
        if (pending.Length > 0) yield return pending.ToArray();
    }
}
