using PbsDatastore.Core.Hierarchy;
using System.Buffers;
using System.Diagnostics;
using System.IO.Hashing;
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
/// One pass over the store takes about half a second, too short for a machine whose load changes by the second:
/// each round repeats floor and verify enough times to last <see cref="RoundSeconds"/> each, back to back in the
/// same round (alternating which goes first), so that load hits both alike; the figure is the median of the rounds.
/// </summary>
public sealed class VerifyBenchmark : IBenchmark
{
    private const int ChunkCount = 96;
    private const int Rounds = 5;
    private const double RoundSeconds = 3;

    public string Name => "verify";

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        var storePath = Path.Combine(context.WorkDir, "verify-store");
        var store = FilesystemBackend.Create("bench", storePath);
        var (index, paths, plainBytes) = BuildChunks(store, Path.Combine(storePath, "bench.didx"), ChunkCount);
        var threads = Math.Min(Environment.ProcessorCount, VerifyTuning.MaxThreads);

        // Warm the page cache and the JIT for both loops; the slower of the two sets the repeats per round.
        var once = Math.Max(BenchContext.Time(() => Floor(paths, threads)).TotalSeconds,
            BenchContext.Time(() => VerifyOnce(store, index, new VerifyTuning(ChunkOrder.Inode, 1, threads))).TotalSeconds);
        var repeats = (int)Math.Ceiling(RoundSeconds / Math.Max(once, 0.01));

        const double MB = 1_000_000;
        var floorCpuPerPass = 0.0;
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
                    var isFloor = (side ^ round % 2) == 0;
                    var wall = BenchContext.Time(() =>
                    {
                        for (var i = 0; i < repeats; i++)
                        {
                            if (isFloor) Floor(paths, threads);
                            else VerifyOnce(store, index, tuning);
                        }
                    }).TotalSeconds / repeats;
                    var used = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds / repeats;
                    (isFloor ? floors : verifies).Add(wall);
                    (isFloor ? floorCpu : verifyCpu).Add(used);
                }
            }
            var label = $"read {readers}/verify {threads} threads";
            yield return new BenchRow(Name, $"full verify, {label}", plainBytes / MB / Median(verifies), "MB/s",
                plainBytes / MB / Median(floors), $"read+zstd+sha256 loop, all cores; speed/floor's, median of {Rounds} rounds of {repeats} passes, load {load}→{LoadAverage()}");
            floorCpuPerPass = Median(floorCpu);
            yield return new BenchRow(Name, $"CPU of full verify, {label}", Median(verifyCpu), "s", floorCpuPerPass,
                "user + system CPU of the same floor (load-independent)");
        }

        // PBS checks every chunk's CRC-32 when it loads it (a corrupt chunk is named by it); the floor does not.
        var raws = paths.Select(File.ReadAllBytes).ToList();
        var crc = Enumerable.Range(0, Rounds).Select(_ => BenchContext.Time(() =>
        {
            foreach (var raw in raws) Crc32.HashToUInt32(raw.AsSpan(DataBlob.PlainHeaderSize));
        }).TotalSeconds).Order().ElementAt(Rounds / 2);
        yield return new BenchRow(Name, "CPU of the CRC-32 checks alone", crc, "s", floorCpuPerPass,
            "one thread; in verify's CPU, not in the floor's (share of it)");
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

    /// <summary>
    /// The floor: read each chunk file, decompress its payload, hash the data; nothing else. Plain threads that
    /// each take the next file, the calling thread one of them, as verify's workers are (a thread-pool loop would
    /// start its workers late and measure the pool, not the work).
    /// </summary>
    internal static void Floor(IReadOnlyList<string> paths, int threads)
    {
        var next = -1;
        var helpers = Enumerable.Range(1, threads - 1).Select(_ => new Thread(Work)).ToList();
        helpers.ForEach(t => t.Start());
        Work();
        helpers.ForEach(t => t.Join());

        void Work()
        {
            using var decompressor = new Decompressor();
            var output = ArrayPool<byte>.Shared.Rent(4 << 20);
            for (var i = Interlocked.Increment(ref next); i < paths.Count; i = Interlocked.Increment(ref next))
            {
                using var handle = File.OpenHandle(paths[i]);
                var length = (int)RandomAccess.GetLength(handle);
                var raw = ArrayPool<byte>.Shared.Rent(length);
                RandomAccess.Read(handle, raw.AsSpan(0, length), 0);
                var n = decompressor.Unwrap(raw.AsSpan(DataBlob.PlainHeaderSize, length - DataBlob.PlainHeaderSize), output);
                SHA256.HashData(output.AsSpan(0, n));
                ArrayPool<byte>.Shared.Return(raw);
            }
            ArrayPool<byte>.Shared.Return(output);
        }
    }

    /// <summary><paramref name="count"/> chunks of 1–4 MiB (about 2:1 compressible) and a dynamic index over them.</summary>
    internal static (IndexFile Index, List<string> Paths, long PlainBytes) BuildChunks(FilesystemBackend store, string indexPath, int count)
    {
        var random = new Random(42);
        var paths = new List<string>();
        var entries = new List<(long End, ChunkDigest Digest)>();
        long end = 0;
        for (var i = 0; i < count; i++)
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
        Directory.CreateDirectory(Path.GetDirectoryName(indexPath)!);
        using (var writer = DynamicIndexWriter.Create(indexPath))
        {
            foreach (var (chunkEnd, digest) in entries)
                writer.AddChunk(chunkEnd, digest);
            writer.Close();
        }
        return (IndexFile.Open(indexPath), paths, end);
    }
}
