using System.Diagnostics;
using PbsDatastore.Core.Formats;

namespace PbsDatastore.Bench;

/// <summary>
/// Opening an index and walking every digest (what GC, verify and space accounting do per index) against the
/// floor of just reading the file; and the chunker's MB/s against a plain byte loop over the same data.
/// </summary>
public sealed class IndexReadBench : IBenchmark
{
    private const int Entries = 1 << 20;

    public string Name => "index-read";

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        var random = new Random(42);
        var digest = new byte[32];
        var fixedPath = Path.Combine(context.WorkDir, "bench.img.fidx");
        var dynamicPath = Path.Combine(context.WorkDir, "bench.pxar.didx");
        using (var writer = DynamicIndexWriter.Create(dynamicPath))
        {
            for (var i = 0; i < Entries; i++)
            {
                random.NextBytes(digest);
                writer.AddChunk((i + 1L) * 65536, new ChunkDigest(digest));
            }
            writer.Close();
        }
        using (var writer = FixedIndexWriter.Create(fixedPath, (long)Entries * 4096, 4096))
        {
            for (var i = 0; i < Entries; i++)
            {
                random.NextBytes(digest);
                writer.AddDigest(i, new ChunkDigest(digest));
            }
            writer.Close();
        }

        foreach (var path in new[] { fixedPath, dynamicPath })
        {
            // Warm the page cache and the JIT; then best of a few runs for both.
            Walk(path);
            var floor = Best(() => File.ReadAllBytes(path).Length);
            var figure = Best(() => Walk(path));
            var label = Path.GetExtension(path);
            yield return new BenchRow(Name, $"open+walk {label} ({Entries} digests)", Entries / figure / 1e6, "Mdig/s",
                Entries / floor / 1e6, "File.ReadAllBytes of the file") { Ratio = figure / floor };
        }

        var data = new byte[64 << 20];
        random.NextBytes(data);
        foreach (var average in new[] { 64 << 10, 4 << 20 })
        {
            var floor = Best(() => ByteLoop(data));
            var figure = Best(() => Chunker.ChunkEnds(data, average).Count);
            yield return new BenchRow(Name, $"chunker avg {average >> 10} KiB", data.Length / figure / 1e6, "MB/s",
                data.Length / floor / 1e6, "loop reading every byte") { Ratio = figure / floor };
        }
    }

    private static long Walk(string path)
    {
        var index = IndexFile.Open(path);
        long sum = 0;
        for (var i = 0; i < index.Count; i++) sum += index.DigestAt(i).PrefixIndex;
        return sum;
    }

    private static long ByteLoop(byte[] data)
    {
        uint h = 0;
        foreach (var b in data) h = (h << 1 | h >> 31) ^ b;
        return h;
    }

    private static double Best(Func<long> action)
    {
        var best = double.MaxValue;
        for (var run = 0; run < 3; run++)
        {
            var sw = Stopwatch.StartNew();
            GC.KeepAlive(action());
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return best;
    }
}
