using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.S3;
using PbsDatastore.Core.Store;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.S3;

/// <summary>
/// PBS 4.2's three-phase GC of S3 stores (addendum §4.6) on the reference store uploaded to s3rver: the same
/// figures as PBS's GC of the filesystem store (expected JSON), the bucket afterwards holding exactly what that GC
/// kept, dry runs, and injected faults that never cost a referenced object and leave a GC that can be rerun.
/// </summary>
[Collection(S3ServerCollection.Name)]
public class S3GarbageCollectionTests(S3TestServer server)
{
    private static readonly System.Text.Json.Nodes.JsonObject Expected48h = ReferenceStore.Expected["gc_after_48h"]!.AsObject();

    private sealed class S3Store : IDisposable
    {
        public required TempDir Copy { get; init; }
        public required string Name { get; init; }
        public required Datastore Datastore { get; init; }
        public S3Backend Backend => (S3Backend)Datastore.Backend;
        public void Dispose()
        {
            Datastore.Dispose();
            Copy.Dispose();
        }
    }

    /// <summary>The reference store aged 48 h (as the expected run was) and uploaded; every other chunk evicted.</summary>
    private S3Store Prepare()
    {
        var copy = ReferenceStore.FreshCopy();
        var name = "gc" + Guid.NewGuid().ToString("N")[..12];
        var i = 0;
        using (var uploader = server.Client()) S3ReferenceStore.Upload(copy.StorePath, uploader, name, evict: _ => i++ % 2 == 0);
        // Aged after the upload, which read the files.
        Assert.Equal((int)Expected48h["chunk_dir_files_before"]!, GarbageCollectionTests.AgeChunkDir(copy.StorePath, 48));
        var store = Datastore.Open(copy.StorePath, name, S3TestServer.DatastoreConfig(name, copy.StorePath));
        return new S3Store { Copy = copy, Name = name, Datastore = store };
    }

    private static IEnumerable<string> ExpectedRemovedKeys(string name)
        => Expected48h["files_removed"]!.AsArray().Select(f => $"{name}/{(string)f!}").Order(StringComparer.Ordinal);

    private List<string> BucketKeys(string name)
    {
        using var client = server.Client();
        return client.ListObjects(name + "/").Select(o => o.Key).Order(StringComparer.Ordinal).ToList();
    }

    private void AssertCollectedLikePbs(S3Store s, GarbageCollectionResult result)
    {
        GarbageCollectionTests.AssertStatus(Expected48h["status"]!.AsObject(), result.Status);
        Assert.Equal(ExpectedRemovedKeys(s.Name), result.S3RemovedKeys.Order(StringComparer.Ordinal));
        // The bucket keeps exactly what PBS's GC kept of the filesystem store, and all of .cnt/.
        Assert.Equal(S3ReferenceStore.ExpectedKeys(s.Name).Except(ExpectedRemovedKeys(s.Name)), BucketKeys(s.Name));
        foreach (var f in Expected48h["files_removed"]!.AsArray())
            Assert.False(File.Exists(Path.Combine(s.Copy.StorePath, (string)f!)), (string)f!);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(s.Copy.StorePath, ".chunks"), "*.using", SearchOption.AllDirectories));
    }

    [Fact]
    public void Gc_matches_pbs_figures_and_leaves_the_bucket_as_pbs_left_the_store()
    {
        using var s = Prepare();
        var log = new RecordingTaskState();
        var result = GarbageCollection.Run(s.Datastore, new GarbageCollectionOptions(), log);
        AssertCollectedLikePbs(s, result);
        Assert.Equal(S3TestServer.Bucket, result.Bucket);
        Assert.Equal(File.ReadAllText(Path.Combine(s.Copy.StorePath, ".gc-status")), result.Status.ToJson());

        // The minimum: one HEAD, one listing page per 1000 objects, one DeleteObjects per 1000 removed keys.
        var r = result.S3Requests!;
        var objects = (int)Expected48h["chunk_dir_files_before"]! - 1; // the tmp_ leftover is local only
        Assert.Equal((1L, (objects + 999L) / 1000, 1L, 0L, 0L), (r.Head, r.Get, r.Post, r.Put, r.Delete));

        // A second run finds nothing more to delete.
        var again = GarbageCollection.Run(s.Datastore, new GarbageCollectionOptions(), log);
        Assert.Equal((0L, 0L), (again.RemovedChunks, again.RemovedBad));
        Assert.Equal(0, again.S3Requests!.Post);
        Assert.Equal(result.DiskChunks, again.DiskChunks);
    }

    [Fact]
    public void Dry_run_lists_what_would_go_and_changes_nothing()
    {
        using var s = Prepare();
        var before = BucketKeys(s.Name);
        var atimes = Directory.EnumerateFiles(Path.Combine(s.Copy.StorePath, ".chunks"), "*", SearchOption.AllDirectories)
            .ToDictionary(f => f, File.GetLastAccessTimeUtc);
        var result = GarbageCollection.Run(s.Datastore, new GarbageCollectionOptions { DryRun = true }, new RecordingTaskState());
        Assert.True(result.DryRun);
        GarbageCollectionTests.AssertStatus(Expected48h["status"]!.AsObject(), result.Status);
        Assert.Equal(ExpectedRemovedKeys(s.Name), result.S3RemovedKeys.Order(StringComparer.Ordinal));
        Assert.Equal(before, BucketKeys(s.Name));
        Assert.Equal((0L, 0L, 0L), (result.S3Requests!.Post, result.S3Requests.Put, result.S3Requests.Delete));
        foreach (var (file, atime) in atimes) Assert.Equal(atime, File.GetLastAccessTimeUtc(file));
        Assert.False(File.Exists(Path.Combine(s.Copy.StorePath, ".gc-status")) &&
                     File.ReadAllText(Path.Combine(s.Copy.StorePath, ".gc-status")).Contains(result.Status.Upid ?? "no upid"));
    }

    [Fact]
    public void A_referenced_chunk_without_a_local_marker_is_kept_through_a_using_marker()
    {
        using var s = Prepare();
        // A chunk only the vm/100 image references, its local marker lost: phase 1 leaves DIGEST.using, phase 2
        // finds the object, turns the .using into an empty marker and keeps the object.
        var chunk = ReferenceStore.Expected["store"]!["chunks"]!.AsArray()
            .First(c => c!["referenced_by"]!.AsArray().Any(r => ((string)r!).StartsWith("vm/100/", StringComparison.Ordinal)));
        var path = Path.Combine(s.Copy.StorePath, (string)chunk!["path"]!);
        File.Delete(path);
        var result = GarbageCollection.Run(s.Datastore, new GarbageCollectionOptions(), new RecordingTaskState());
        AssertCollectedLikePbs(s, result);
        Assert.Equal(0, new FileInfo(path).Length);
        Assert.Contains($"{s.Name}/{(string)chunk["path"]!}", BucketKeys(s.Name));
    }

    [Fact]
    public void A_chunk_whose_flock_is_held_is_skipped()
    {
        using var s = Prepare();
        var orphan = ChunkDigest.Parse((string)ReferenceStore.Expected["gc_cases"]!["orphan_chunks"]![0]!);
        var lockPath = S3Backend.ChunkLockPath(s.Name, orphan);
        Directory.CreateDirectory(Path.GetDirectoryName(lockPath)!);
        GarbageCollectionResult result;
        using (new ChildLockHolder(lockPath))
            result = GarbageCollection.Run(s.Datastore, new GarbageCollectionOptions(), new RecordingTaskState());
        Assert.Equal((long)Expected48h["status"]!["removed-chunks"]! - 1, result.RemovedChunks);
        Assert.Contains(s.Backend.Keys.Chunk(orphan), BucketKeys(s.Name));
        // Released, the next run collects it.
        Assert.Equal(1, GarbageCollection.Run(s.Datastore, new GarbageCollectionOptions(), new RecordingTaskState()).RemovedChunks);
        Assert.DoesNotContain(s.Backend.Keys.Chunk(orphan), BucketKeys(s.Name));
    }

    [Fact]
    public void Unreferenced_chunks_are_the_bucket_objects_its_collection_would_delete_and_nothing_changes()
    {
        using var s = Prepare();
        var before = BucketKeys(s.Name);
        var list = GarbageCollection.FindUnreferencedChunks(s.Datastore, new GarbageCollectionOptions(), new RecordingTaskState());
        var status = Expected48h["status"]!;
        var removed = list.Where(u => u.WouldRemoveNow).ToList();
        Assert.Equal(ExpectedRemovedKeys(s.Name), removed.Select(u => $"{s.Name}/.chunks/{u.Digest[..4]}/{u.Name}").Order(StringComparer.Ordinal));
        // Sizes are the objects' (half the cache holds only empty markers), as GC counts them (bad ones included).
        Assert.Equal((long)status["removed-bytes"]!, removed.Sum(u => u.Size));
        Assert.Equal((long)status["removed-chunks"]!, removed.Count(u => !u.IsBad));
        Assert.Equal((long)status["removed-bad"]!, removed.Count(u => u.IsBad));
        Assert.Equal(before, BucketKeys(s.Name));
    }

    [Fact]
    public void An_unreferenced_object_whose_cache_file_is_fresh_is_listed_but_not_due()
    {
        using var s = Prepare();
        // As a chunk a backup writes while the list runs: its atime is not before the list's start.
        var orphan = (string)ReferenceStore.Expected["gc_cases"]!["orphan_chunks"]![0]!;
        File.SetLastAccessTimeUtc(Path.Combine(s.Copy.StorePath, ".chunks", orphan[..4], orphan), DateTime.UtcNow.AddMinutes(1));
        var list = GarbageCollection.FindUnreferencedChunks(s.Datastore, new GarbageCollectionOptions(), new RecordingTaskState());
        Assert.Equal(ExpectedRemovedKeys(s.Name), list.Select(u => $"{s.Name}/.chunks/{u.Digest[..4]}/{u.Name}").Order(StringComparer.Ordinal));
        Assert.Equal([orphan], list.Where(u => !u.WouldRemoveNow).Select(u => u.Name));
    }

    /// <summary>
    /// The dry run, the unreferenced list and the real GC marked in 2, 3 or 17 passes: each dry-run pass lists only
    /// its slice of the bucket, and the results equal one pass's byte for byte (and the expected JSON), with at most
    /// one more listing page per extra pass.
    /// </summary>
    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(17)]
    public void Passes_over_slices_of_the_bucket_give_the_results_of_one_pass(int passes)
    {
        using var s = Prepare();
        static string Json(object o) => System.Text.Json.JsonSerializer.Serialize(o);
        object DryRun(int n, out S3RequestCount requests)
        {
            var r = GarbageCollection.Run(s.Datastore, new GarbageCollectionOptions { DryRun = true, Partitions = n }, new RecordingTaskState());
            requests = r.S3Requests!;
            return new { r.Status, r.IndexEntries, r.UniqueChunks, r.StrangePaths, r.MissingChunks, r.Reasons, r.S3RemovedKeys };
        }
        object List(int n) => GarbageCollection.FindUnreferencedChunks(s.Datastore, new GarbageCollectionOptions { Partitions = n }, new RecordingTaskState())
            .Select(u => new { u.Name, u.Path, u.Size, u.Atime, u.IsBad, u.WouldRemoveNow }).ToList();

        var one = Json(DryRun(1, out var oneRequests));
        Assert.Equal(one, Json(DryRun(passes, out var requests)));
        Assert.InRange(requests.Get, oneRequests.Get, oneRequests.Get + passes - 1);
        Assert.Equal(Json(List(1)), Json(List(passes)));
        var listed = GarbageCollection.FindUnreferencedChunks(s.Datastore, new GarbageCollectionOptions { Partitions = passes }, new RecordingTaskState());
        Assert.Equal(ExpectedRemovedKeys(s.Name), listed.Select(u => $"{s.Name}/.chunks/{u.Digest[..4]}/{u.Name}").Order(StringComparer.Ordinal));

        var result = GarbageCollection.Run(s.Datastore, new GarbageCollectionOptions { Partitions = passes }, new RecordingTaskState());
        AssertCollectedLikePbs(s, result);
    }

    [Fact]
    public void Transient_faults_are_retried_and_the_result_is_unchanged()
    {
        using var s = Prepare();
        var endpoint = server.Endpoint();
        var faults = new FaultInjectingHandler(S3Client.CreateTransport(endpoint))
            .Inject(FaultInjectingHandler.IsListing, S3Fault.SlowDown, times: 2)
            .Inject(FaultInjectingHandler.IsListing, S3Fault.Timeout, times: 1)
            .Inject(FaultInjectingHandler.IsDeleteObjects, S3Fault.InternalError, times: 2)
            .Inject(FaultInjectingHandler.IsDeleteObjects, S3Fault.LostResponse, times: 1)
            .Inject(r => r.Method == HttpMethod.Head, S3Fault.ConnectionReset, times: 1);
        using var backend = new S3Backend(FilesystemBackend.Open(s.Name, s.Copy.StorePath),
            server.Client(endpoint: endpoint, transport: faults, options: S3TestServer.FastRetries with { RequestTimeout = TimeSpan.FromSeconds(2) }));
        s.Datastore.WrapBackend(_ => backend);
        var result = GarbageCollection.Run(s.Datastore, new GarbageCollectionOptions(), new RecordingTaskState());
        Assert.Equal(7, faults.Injected);
        Assert.True(result.S3Requests!.Retries >= 7, $"{result.S3Requests.Retries} retries"); // more if the busy machine was slow

        AssertCollectedLikePbs(s, result);
    }

    [Theory]
    [InlineData(S3Fault.InternalError)]
    [InlineData(S3Fault.Timeout)]
    public void A_gc_that_fails_deleting_loses_no_referenced_object_and_can_be_rerun(S3Fault fault)
    {
        using var s = Prepare();
        var endpoint = server.Endpoint();
        var faults = new FaultInjectingHandler(S3Client.CreateTransport(endpoint)).Inject(FaultInjectingHandler.IsDeleteObjects, fault, times: 100);
        var failing = new S3Backend(FilesystemBackend.Open(s.Name, s.Copy.StorePath),
            server.Client(endpoint: endpoint, transport: faults, options: S3TestServer.FastRetries with { MaxAttempts = 3, RequestTimeout = TimeSpan.FromSeconds(1) }));
        using (var broken = Datastore.Open(s.Copy.StorePath, s.Name, S3TestServer.DatastoreConfig(s.Name, s.Copy.StorePath)))
        {
            broken.WrapBackend(_ => failing);
            var e = Assert.Throws<PbsException>(() => GarbageCollection.Run(broken, new GarbageCollectionOptions(), new RecordingTaskState()));
            Assert.Equal("S3RequestFailed", e.ErrorId);
        }
        // Nothing left the bucket; every referenced object is there.
        Assert.Equal(S3ReferenceStore.ExpectedKeys(s.Name), BucketKeys(s.Name));
        var rerun = GarbageCollection.Run(s.Datastore, new GarbageCollectionOptions(), new RecordingTaskState());
        Assert.Equal(S3ReferenceStore.ExpectedKeys(s.Name).Except(ExpectedRemovedKeys(s.Name)), BucketKeys(s.Name));
        // The failed run already removed the local markers of what it queued, so the rerun finds those objects
        // without a local trace: unreferenced, deleted now.
        Assert.Equal(ExpectedRemovedKeys(s.Name), rerun.S3RemovedKeys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_partial_listing_deletes_no_referenced_object_and_the_next_run_finishes()
    {
        using var s = Prepare();
        var endpoint = server.Endpoint();
        var faults = new FaultInjectingHandler(S3Client.CreateTransport(endpoint)).Inject(FaultInjectingHandler.IsListing, S3Fault.PartialListing);
        var lying = new S3Backend(FilesystemBackend.Open(s.Name, s.Copy.StorePath), server.Client(endpoint: endpoint, transport: faults));
        using (var partial = Datastore.Open(s.Copy.StorePath, s.Name, S3TestServer.DatastoreConfig(s.Name, s.Copy.StorePath)))
        {
            partial.WrapBackend(_ => lying);
            var first = GarbageCollection.Run(partial, new GarbageCollectionOptions(), new RecordingTaskState());
            Assert.Equal(1, faults.Injected);
            Assert.All(first.S3RemovedKeys, k => Assert.Contains(k, ExpectedRemovedKeys(s.Name)));
        }
        Assert.Superset(S3ReferenceStore.ExpectedKeys(s.Name).Except(ExpectedRemovedKeys(s.Name)).ToHashSet(), BucketKeys(s.Name).ToHashSet());
        GarbageCollection.Run(s.Datastore, new GarbageCollectionOptions(), new RecordingTaskState());
        Assert.Equal(S3ReferenceStore.ExpectedKeys(s.Name).Except(ExpectedRemovedKeys(s.Name)), BucketKeys(s.Name));
    }
}
