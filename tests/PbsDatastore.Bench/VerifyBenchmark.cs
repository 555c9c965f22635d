using PbsDatastore.Core.Hierarchy;
using System.Buffers;
using System.Diagnostics;
using System.Security.Cryptography;
using PbsDatastore.Core;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Store;
using ZstdSharp;

namespace PbsDatastore.Bench;

/// <summary>
/// Full verify of one index (PBS's procedure: inode order, reader threads handing chunks to the verify threads
/// for CRC, decode, digest and length; one verify thread per core) with 1 and with 2 readers, against the floor: a
/// loop that only reads, decompresses and SHA-256s the same chunk files on all cores. The ratio is verify's speed
/// over the floor's (target ≥ 0.95).
/// Synthetic store: compressible chunks of 1–4 MiB, read from the page cache in all runs.
/// </summary>
public sealed class VerifyBenchmark : IBenchmark
{
    private const int ChunkCount = 96;
    private const int Rounds = 5;

    public string Name => "verify";

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        var storePath = Path.Combine(context.WorkDir, "verify-store");
        var store = FilesystemBackend.Create("bench", storePath);
        var (index, paths, plainBytes) = BuildStore(store, Path.Combine(storePath, "bench.didx"));
        var threads = Math.Min(Environment.ProcessorCount, VerifyTuning.MaxThreads);

        // Warm the page cache and the JIT for both loops.
        Floor(paths, threads);
        VerifyOnce(store, index, new VerifyTuning(ChunkOrder.Inode, 1, threads));

        const double MB = 1_000_000;
        foreach (var readers in new[] { 1, 2 })
        {
            var tuning = new VerifyTuning(ChunkOrder.Inode, readers, threads);
            var load = LoadAverage();
            List<double> floors = [], verifies = [], floorCpu = [], verifyCpu = [];
            // Floor and verify alternate which goes first; each figure is the median of its rounds.
            for (var round = 0; round < Rounds; round++)
            {
                for (var side = 0; side < 2; side++)
                {
                    var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                    if ((side ^ round % 2) == 0)
                    {
                        floors.Add(BenchContext.Time(() => Floor(paths, threads)).TotalSeconds);
                        floorCpu.Add((Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds);
                    }
                    else
                    {
                        verifies.Add(BenchContext.Time(() => VerifyOnce(store, index, tuning)).TotalSeconds);
                        verifyCpu.Add((Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds);
                    }
                }
            }
            var label = $"read {readers}/verify {threads} threads";
            yield return new BenchRow(Name, $"full verify, {label}", plainBytes / MB / Median(verifies), "MB/s",
                plainBytes / MB / Median(floors), $"read+zstd+sha256 loop, all cores; speed/floor's, median of {Rounds}, load {load}→{LoadAverage()}");
            yield return new BenchRow(Name, $"CPU of full verify, {label}", Median(verifyCpu), "s", Median(floorCpu),
                "user + system CPU of the same floor (load-independent)");
        }
    }

    private static string LoadAverage() => File.ReadAllText("/proc/loadavg").Split(' ')[0];

    private static double Median(List<double> values)
    {
        values.Sort();
        return values[values.Count / 2];
    }

    private static void VerifyOnce(FilesystemBackend store, IndexFile index, VerifyTuning tuning)
    {
        var verifier = new ChunkVerifier(store, null, tuning, dryRun: true);
        var result = verifier.VerifyIndexChunks(index, CryptMode.None, "bench.didx", NullTaskState.Instance);
        if (result.Errors != 0 || result.ChunksLoaded != ChunkCount)
            throw new InvalidOperationException($"benchmark store did not verify: {result.Errors} errors, {result.ChunksLoaded} chunks");
    }

    /// <summary>The floor: read each chunk file, decompress its payload, hash the data; nothing else.</summary>
    private static void Floor(IReadOnlyList<string> paths, int threads)
    {
        Parallel.ForEach(paths, new ParallelOptions { MaxDegreeOfParallelism = threads }, () => new Decompressor(), (path, _, decompressor) =>
        {
            using var handle = File.OpenHandle(path);
            var length = (int)RandomAccess.GetLength(handle);
            var raw = ArrayPool<byte>.Shared.Rent(length);
            var output = ArrayPool<byte>.Shared.Rent(4 << 20);
            RandomAccess.Read(handle, raw.AsSpan(0, length), 0);
            var n = decompressor.Unwrap(raw.AsSpan(DataBlob.PlainHeaderSize, length - DataBlob.PlainHeaderSize), output);
            SHA256.HashData(output.AsSpan(0, n));
            ArrayPool<byte>.Shared.Return(output);
            ArrayPool<byte>.Shared.Return(raw);
            return decompressor;
        }, d => d.Dispose());
    }

    /// <summary>Chunks of 1–4 MiB (about 2:1 compressible) and a dynamic index over them.</summary>
    private static (IndexFile Index, List<string> Paths, long PlainBytes) BuildStore(FilesystemBackend store, string indexPath)
    {
        var random = new Random(42);
        var paths = new List<string>();
        var entries = new List<(long End, ChunkDigest Digest)>();
        long end = 0;
        for (var i = 0; i < ChunkCount; i++)
        {
            var data = new byte[random.Next(1 << 20, (4 << 20) + 1)];
            random.NextBytes(data);
            for (var j = 0; j < data.Length; j++)
                data[j] = (byte)('a' + (data[j] & 0x0f));
            var digest = new ChunkDigest(SHA256.HashData(data));
            var path = store.ChunkPath(digest);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, DataBlob.Encode(data, null, compress: true).Raw.ToArray());
            paths.Add(path);
            end += data.Length;
            entries.Add((end, digest));
        }
        using (var writer = DynamicIndexWriter.Create(indexPath))
        {
            foreach (var (chunkEnd, digest) in entries)
                writer.AddChunk(chunkEnd, digest);
            writer.Close();
        }
        return (IndexFile.Open(indexPath), paths, end);
    }
}
