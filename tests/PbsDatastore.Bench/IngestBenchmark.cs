using System.Security.Cryptography;
using PbsDatastore.Core;
using PbsDatastore.Core.Backup;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Store;

namespace PbsDatastore.Bench;

/// <summary>
/// New-PbsSnapshot's ingest rate for a fixed and a dynamic archive (4 MiB chunks, into an empty store), beside a
/// minimal loop doing the same work on the same file in the same run: read, cut (fixed pieces or PBS's chunker),
/// SHA-256 and zstd level 1, with as many workers as the ingest uses — no store, no index, no locks.
/// </summary>
public sealed class IngestBenchmark : IBenchmark
{
    private const int ChunkSize = 4 << 20;
    private const int InputBytes = 192 << 20;

    public string Name => "ingest";

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        PbsPaths.RunRoot = Path.Combine(context.WorkDir, "run");
        PbsPaths.ConfigRoot = Path.Combine(context.WorkDir, "etc");
        var input = Path.Combine(context.WorkDir, "ingest-input.bin");
        WriteInput(input, InputBytes, seed: 42, zeros: true);

        // One store for both runs (creating 65536 chunk directories is slow); each run writes a new group, so no
        // chunk is skipped as known and every chunk is encoded and inserted.
        var storePath = Path.Combine(context.WorkDir, "store");
        FilesystemBackend.Create("bench", storePath);
        var store = Datastore.Open(storePath, "bench");
        // Warm-up of both contenders (JIT tiers of the zstd and SHA paths, page cache): the module on a smaller input
        // of other data, so the measured runs still find every chunk new.
        var warmup = Path.Combine(context.WorkDir, "ingest-warmup.bin");
        WriteInput(warmup, 32 << 20, seed: 7, zeros: false);
        foreach (var type in new[] { ArchiveType.FixedIndex, ArchiveType.DynamicIndex })
            Ingest(store, warmup, type, "warmup-");
        File.Delete(warmup);
        Floor(input, ArchiveType.FixedIndex);
        foreach (var type in new[] { ArchiveType.FixedIndex, ArchiveType.DynamicIndex })
        {
            var floor = Floor(input, type);
            var module = Ingest(store, input, type, "");
            var label = type == ArchiveType.FixedIndex ? "fixed" : "dynamic";
            yield return new BenchRow(Name, $"{label} archive, 4 MiB chunks", module, "MB/s", floor,
                $"read+cut+sha256+zstd1 loop, {Environment.ProcessorCount} workers")
            { Ratio = floor / module };
        }
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

    private static double Floor(string input, ArchiveType type)
    {
        var options = new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount };
        var elapsed = BenchContext.Time(() =>
        {
            using var stream = new FileStream(input, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
            Parallel.ForEach(type == ArchiveType.FixedIndex ? FixedPieces(stream) : ChunkerPieces(stream), options, piece =>
            {
                SHA256.HashData(piece);
                using var compressor = new ZstdSharp.Compressor(1);
                compressor.Wrap(piece);
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
