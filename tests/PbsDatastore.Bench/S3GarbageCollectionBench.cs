using System.Globalization;
using System.Security.Cryptography;
using PbsDatastore.Core;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.S3;
using PbsDatastore.Testing;

namespace PbsDatastore.Bench;

/// <summary>
/// Requests of an S3 store's garbage collection against s3rver on loopback, beside the minimum: one HEAD, one
/// listing page per 1,000 objects (S3's page size: one list entry per object) and one DeleteObjects per 1,000
/// removed keys. The store: PBS_BENCH_S3GC_CHUNKS chunk objects (default 4,000), half referenced by a snapshot,
/// half unreferenced and past the cutoff, every chunk evicted from the cache (an empty marker), as PBS's cache
/// leaves them. The GC's own counters are checked against its result (every unreferenced object deleted).
/// </summary>
public sealed class S3GarbageCollectionBench : IBenchmark
{
    private const string Bucket = "pbs-bench";
    private const string StoreName = "s3bench";

    public string Name => "s3gc";

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        if (!S3rverProcess.IsInstalled(context.RepoRoot))
        {
            // The other benchmarks still run; the S3 test server comes with .ci/run (or the command below).
            Console.WriteLine($"{Name}: not run - s3rver is not installed: {S3rverProcess.InstallCommand}");
            yield break;
        }
        var count = int.TryParse(Environment.GetEnvironmentVariable("PBS_BENCH_S3GC_CHUNKS"), out var c) && c > 1 ? c : 4000;
        PbsPaths.RunRoot = Path.Combine(context.WorkDir, "run");
        PbsPaths.ConfigRoot = Path.Combine(context.WorkDir, "etc");
        Directory.CreateDirectory(PbsPaths.ConfigRoot);
        using var server = new S3rverProcess(context.RepoRoot, Bucket);
        File.WriteAllText(Path.Combine(PbsPaths.ConfigRoot, "s3.cfg"), server.S3ConfigSection("bench"));
        var storePath = Path.Combine(context.WorkDir, "s3gc-cache");
        var referenced = Build(storePath, count);
        var config = DatastoreConfig.Parse($"datastore: {StoreName}\n\tbackend type=s3,client=bench,bucket={Bucket}\n\tpath {storePath}\n");

        GarbageCollectionResult result;
        long dryOne, dryMany, listingBytes;
        using (var store = Datastore.Open(storePath, StoreName, config))
        {
            dryOne = DryRunListRequests(store, 1);
            dryMany = DryRunListRequests(store, DryRunPasses);
            listingBytes = ListingBytes(store);
            result = GarbageCollection.Run(store, new GarbageCollectionOptions(), NullTaskState.Instance);
        }
        var removed = count - referenced;
        if (result.RemovedChunks != removed || result.S3RemovedKeys.Count != removed || result.Status.DiskChunks != referenced)
            throw new InvalidOperationException($"S3 GC removed {result.RemovedChunks} and kept {result.Status.DiskChunks}, expected {removed} and {referenced}");
        var r = result.S3Requests!;
        var pages = (count + 999) / 1000;
        var deletes = (removed + 999) / 1000;
        var label = $"{count / 1000.0:F1}k objects, {removed} removed";
        // Every attempt counts, as in PBS's counters; s3rver answers some DeleteObjects with a transient 500 (a
        // race in its file store) that the retry resolves, so the retries are shown on their own.
        yield return new BenchRow(Name, $"requests per 1,000 objects {label}", r.Requests * 1000.0 / count, "req",
            (1.0 + pages + deletes) * 1000 / count, $"minimum: 1 HEAD + {pages} list pages + {deletes} DeleteObjects ({r.Head} HEAD, {r.Get} GET, {r.Post} POST, {r.Put} PUT, {r.Delete} DELETE sent)");
        yield return new BenchRow(Name, $"list requests {label}", r.Get, "req", pages, "minimum: one page per 1,000 objects");
        yield return new BenchRow(Name, $"DeleteObjects requests {label}", r.Post + r.Delete, "req", deletes, "minimum: one request per 1,000 removed keys");
        yield return new BenchRow(Name, $"retried requests {label}", r.Retries, "req", 0, "included above; the server's transient errors");
        yield return new BenchRow(Name, $"dry-run list requests, {DryRunPasses} passes", dryMany, "req", dryOne,
            $"one pass; each extra pass may add one partial page (at most {dryOne + DryRunPasses - 1})");
        yield return new BenchRow(Name, $"chunk listing bytes per object", listingBytes / (double)count, "B", ChunkDigest.Size,
            "the digest alone; the whole listing held (Get-PbsChunkReference -Bad/-Missing), a pass holds its slice");
        Directory.Delete(storePath, true);
    }

    private const int DryRunPasses = 4;

    private static long DryRunListRequests(Datastore store, int passes)
        => GarbageCollection.Run(store, new GarbageCollectionOptions { DryRun = true, Partitions = passes }, NullTaskState.Instance).S3Requests!.Get;

    /// <summary>Managed memory retained by the S3 chunk listing of the whole bucket (what Measure-PbsDatastore lists in one pass).</summary>
    private static long ListingBytes(Datastore store)
    {
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var listing = S3ChunkListing.Over(store.Backend, NullTaskState.Instance);
        listing.StatChunk(default, default, out _); // the first lookup lists the bucket
        var bytes = GC.GetTotalMemory(forceFullCollection: true) - before;
        GC.KeepAlive(listing);
        return bytes;
    }

    /// <summary>
    /// The bucket and its cache: every object a real chunk blob, half of them in the one snapshot's index; every
    /// cache file an empty marker aged two days (phase 1 touches the referenced ones). Returns the referenced count.
    /// </summary>
    private static int Build(string storePath, int count)
    {
        var chunks = Path.Combine(storePath, ".chunks");
        for (var i = 0; i < 65536; i++) Directory.CreateDirectory(Path.Combine(chunks, i.ToString("x4", CultureInfo.InvariantCulture)));
        File.WriteAllBytes(Path.Combine(storePath, ".lock"), []);
        var endpoint = S3EndpointConfig.Load().Get("bench");
        using var client = new S3Client(endpoint, Bucket);
        var keys = new S3Keys(StoreName);
        var digests = new ChunkDigest[count];
        var old = DateTime.UtcNow.AddDays(-2);
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            var data = new byte[256];
            RandomNumberGenerator.Fill(data);
            var digest = digests[i] = new ChunkDigest(DataBlob.ComputeDigest(data, null));
            client.PutObject(keys.Chunk(digest), DataBlob.Encode(data, null, compress: false).Raw.ToArray(), replace: false);
            var marker = Path.Combine(chunks, digest.ToString()[..4], digest.ToString());
            File.WriteAllBytes(marker, []);
            File.SetLastAccessTimeUtc(marker, old);
            File.SetLastWriteTimeUtc(marker, old);
        });
        var referenced = count / 2;
        var entries = new byte[referenced * ChunkDigest.Size];
        for (var i = 0; i < referenced; i++) digests[i].WriteTo(entries.AsSpan(i * ChunkDigest.Size));
        var snapshot = Path.Combine(storePath, "vm", "100", "2024-03-01T10:00:00Z");
        Directory.CreateDirectory(snapshot);
        File.WriteAllText(Path.Combine(storePath, "vm", "100", "owner"), "root@pam\n");
        File.WriteAllBytes(Path.Combine(snapshot, "drive-scsi0.img.fidx"), GarbageCollectionBench.FixedIndex(entries, referenced));
        return referenced;
    }
}
