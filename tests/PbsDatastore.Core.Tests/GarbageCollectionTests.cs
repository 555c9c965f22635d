using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Locking;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Native;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests;

public class GarbageCollectionTests
{
    internal static readonly Regex ProgressLine = new(@"\A(marked|processed) \d+% ", RegexOptions.CultureInvariant);

    public static TheoryData<string, int> AgedRuns => new() { { "gc_after_48h", 48 }, { "gc_after_12h", 12 } };

    [Theory]
    [MemberData(nameof(AgedRuns))]
    public void AgedStoreMatchesPbsRun(string key, int hoursBack)
    {
        var expected = ReferenceStore.Expected[key]!.AsObject();
        using var copy = SparseReferenceStore.FreshCopy();
        var store = copy.StorePath;
        var before = ChunkDirFiles(store);
        Assert.Equal((int)expected["chunk_dir_files_before"]!, AgeChunkDir(store, hoursBack));

        var log = new OrderedLog();
        var result = GarbageCollection.Run(store, new GarbageCollectionOptions { DatastoreName = "store1" }, log);

        AssertStatus(expected["status"]!.AsObject(), result.Status);
        Assert.Equal((long)expected["strange_paths_count"]!, result.StrangePaths);
        var removed = before.Except(ChunkDirFiles(store)).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(expected["files_removed"]!.AsArray().Select(n => (string)n!).Order(StringComparer.Ordinal), removed);
        Assert.Equal((int)expected["chunk_dir_files_after"]!, ChunkDirFiles(store).Count);

        var lines = log.Lines.Where(l => !ProgressLine.IsMatch(l)).ToArray();
        var expectedLines = expected["log_without_progress_lines"]!.AsArray().Select(n => ((string)n!).Replace("<STORE>", store)).ToArray();
        Assert.Equal(expectedLines, lines);
        Assert.Equal((int)expected["missing_chunk_warnings"]!, log.Warnings.Count(w => w.StartsWith("warning: unable to access non-existent chunk", StringComparison.Ordinal)));
        Assert.Equal(result.MissingChunks.Count, (int)expected["missing_chunk_warnings"]!);

        // Persisted exactly as PBS writes it, with this run's UPID.
        var written = File.ReadAllText(Path.Combine(store, ".gc-status"));
        Assert.Equal(result.Status.ToJson(), written);
        Assert.Matches(@"\AUPID:[^:]+:[0-9A-F]{8}:[0-9A-F]{8,}:[0-9A-F]{8}:[0-9A-F]{8}:garbage_collection:store1:[^:]+:\z", result.Upid);
        Assert.Equal(result.Status, GarbageCollectionStatus.Read(store));
        Assert.Equal(GarbageCollection.SummaryLines(result.Status), expectedLines[^GarbageCollection.SummaryLines(result.Status).Count..]);
    }

    [Fact]
    public void AgedStoreKeepsEveryReferencedChunkAndHandlesEachCase()
    {
        var cases = ReferenceStore.Expected["gc_cases"]!.AsObject();
        using var copy = SparseReferenceStore.FreshCopy();
        var store = copy.StorePath;
        AgeChunkDir(store, 48);
        var result = GarbageCollection.Run(store, new GarbageCollectionOptions(), new OrderedLog());

        foreach (var chunk in ReferenceStore.Expected["store"]!["chunks"]!.AsArray())
        {
            var referencedOutsideHidden = chunk!["referenced_by"]!.AsArray().Any(p => !((string)p!).StartsWith('.'));
            Assert.Equal(referencedOutsideHidden, File.Exists(Path.Combine(store, (string)chunk["path"]!)));
        }
        string ChunkPath(string digest, string suffix = "") => Path.Combine(store, ".chunks", digest[..4], digest + suffix);
        Assert.True(File.Exists(Path.Combine(store, (string)cases["chunk_dir_tmp_leftover"]!)));
        Assert.False(File.Exists(ChunkPath((string)cases["hidden_dir_only_chunk"]!)));
        Assert.False(File.Exists(ChunkPath((string)cases["tmp_index_only_chunk"]!)));
        Assert.True(File.Exists(ChunkPath((string)cases["strange_path_unique_chunk"]!)));
        Assert.True(File.Exists(ChunkPath((string)cases["missing_chunk_with_0_bad_file"]!, ".0.bad")));
        Assert.True(File.Exists(ChunkPath((string)cases["present_chunk_with_stale_0_bad_file"]!)));
        Assert.False(File.Exists(ChunkPath((string)cases["present_chunk_with_stale_0_bad_file"]!, ".0.bad")));
        Assert.False(File.Exists(ChunkPath((string)cases["unreferenced_bad_file"]!, ".0.bad")));
        foreach (var orphan in cases["orphan_chunks"]!.AsArray())
            Assert.False(File.Exists(ChunkPath((string)orphan!)));
        Assert.Equal(
            new[] { (string)cases["missing_chunk_no_bad_file"]!, (string)cases["missing_chunk_with_0_bad_file"]! }.Order(),
            result.MissingChunks.Select(m => m.Digest).Order());
    }

    [Fact]
    public void WalkFindsPbsIndexFilesAndStrangePaths()
    {
        var images = IndexImageWalk.List(ReferenceStore.PristinePath);
        var expected = ReferenceStore.Expected["store"]!["index_files_on_disk"]!.AsArray()
            .Where(f => !(bool)f!["in_hidden_dir"]!)
            .ToDictionary(f => (string)f!["path"]!, f => (bool)f!["outside_directory_scheme"]!);
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), images.Select(i => i.RelativePath).Order(StringComparer.Ordinal));
        foreach (var image in images)
            Assert.Equal(expected[image.RelativePath], image.IsStrangePath);
    }

    [Fact]
    public void BuildTimeStatusFileRoundTrips()
    {
        var expected = ReferenceStore.Expected["store"]!["gc_status_file"]!;
        var status = GarbageCollectionStatus.Read(ReferenceStore.PristinePath);
        Assert.Equal((string)expected["raw"]!, status.ToJson());
        AssertStatus(expected["parsed"]!.AsObject(), status, compareUpid: true);
        AssertStatus(ReferenceStore.Expected["fixture_build_gc"]!["result"]!["status"]!.AsObject(), status, compareUpid: true);
    }

    [Fact]
    public void StatusParsingFollowsPbs()
    {
        Assert.Equal(new GarbageCollectionStatus(), GarbageCollectionStatus.Read(Path.Combine(ReferenceStore.PristinePath, "vm")));
        var noUpid = GarbageCollectionStatus.Parse("""{"index-file-count":1,"index-data-bytes":2,"disk-bytes":3,"disk-chunks":4,"removed-bytes":5,"removed-chunks":6,"pending-bytes":7,"pending-chunks":8,"removed-bad":9,"still-bad":10,"cache-stats":{"hits":3,"misses":4},"extra":1}""");
        Assert.Null(noUpid.Upid);
        Assert.Equal(3, noUpid.CacheHits);
        Assert.Equal("""{"upid":null,"index-file-count":1,"index-data-bytes":2,"disk-bytes":3,"disk-chunks":4,"removed-bytes":5,"removed-chunks":6,"pending-bytes":7,"pending-chunks":8,"removed-bad":9,"still-bad":10}""", noUpid.ToJson());
        var e = Assert.Throws<PbsException>(() => GarbageCollectionStatus.Parse("""{"upid":null,"index-file-count":1}"""));
        Assert.Equal("InvalidGcStatus", e.ErrorId);
        Assert.Equal("InvalidGcStatus", Assert.Throws<PbsException>(() => GarbageCollectionStatus.Parse("{")).ErrorId);
    }

    [Theory]
    [InlineData(0UL, "0 B")]
    [InlineData(987UL, "987 B")]
    [InlineData(1022UL, "1022 B")]
    [InlineData(1024UL, "1 KiB")]
    [InlineData(9000UL, "8.789 KiB")]
    [InlineData(10000000UL, "9.537 MiB")]
    [InlineData((1UL << 30) + 103 * (1UL << 20), "1.101 GiB")]
    [InlineData((1UL << 30) + 128 * (1UL << 20), "1.125 GiB")]
    [InlineData(2 * (1UL << 50) + 512 * (1UL << 40), "2.5 PiB")]
    public void HumanByteMatchesPbs(ulong bytes, string text) => Assert.Equal(text, HumanByte.Format(bytes));

    [Fact]
    public void UpidHasPbsForm()
    {
        var upid = Upid.Create("garbage_collection", "store1:ns/a-b", "root@pam").ToString();
        Assert.Matches(@"\AUPID:[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?:[0-9A-F]{8}:[0-9A-F]{8,9}:[0-9A-F]{8,16}:[0-9A-F]{8}:garbage_collection:store1\\x3ans-a\\x2db:root@pam:\z", upid);
        Assert.Equal("\\x2ehidden", Upid.EscapeWorkerId(".hidden"));
    }

    [Theory]
    [InlineData("vm/100/2024-03-01T10:00:00Z", true)]
    [InlineData("ns/prod/ns/db/ct/300/2024-03-02T03:00:00Z", true)]
    [InlineData("ns/a/ns/b/ns/c/ns/d/ns/e/ns/f/ns/g/vm/1/2024-03-01T10:00:00Z", true)]
    [InlineData("ns/a/ns/b/ns/c/ns/d/ns/e/ns/f/ns/g/ns/h/vm/1/2024-03-01T10:00:00Z", false)]
    [InlineData("stale-restore", false)]
    [InlineData("vm/100", false)]
    [InlineData("vm/100/2024-13-01T10:00:00Z", false)]
    [InlineData("vm/100/2024-02-31T10:00:00Z", true)]
    [InlineData("xx/vm/100/2024-03-01T10:00:00Z", false)]
    [InlineData("ns/prod/qq/1/2024-03-01T10:00:00Z", false)]
    public void SnapshotDirectoryParsingMatchesPbs(string dir, bool expected)
        => Assert.Equal(expected, IndexImageWalk.IsSnapshotDirectory(dir));

    [Fact]
    public void DryRunChangesNothingAndReportsWhatARunWouldDo()
    {
        var expected = ReferenceStore.Expected["gc_after_48h"]!.AsObject();
        using var copy = SparseReferenceStore.FreshCopy();
        var store = copy.StorePath;
        AgeChunkDir(store, 48);
        var before = Snapshot(store);

        var result = GarbageCollection.Run(store, new GarbageCollectionOptions { DryRun = true }, new OrderedLog());

        AssertSameSnapshot(before, Snapshot(store));
        Assert.True(result.DryRun);
        Assert.Null(result.Upid);
        AssertStatus(expected["status"]!.AsObject(), result.Status);
        var removedFiles = expected["files_removed"]!.AsArray().Select(n => (string)n!).ToArray();
        var sizes = ReferenceStore.Expected["store"]!["chunks"]!.AsArray().Concat(ReferenceStore.Expected["store"]!["bad_files"]!.AsArray())
            .ToDictionary(c => (string)c!["path"]!, c => (long)c!["file_size"]!);
        var byReason = result.Reasons.ToDictionary(r => r.Reason);
        Assert.Equal(removedFiles.Count(f => !f.EndsWith(".bad")), byReason[GarbageCollectionReason.UnreferencedPastCutoff].Files);
        Assert.Equal(removedFiles.Where(f => !f.EndsWith(".bad")).Sum(f => sizes[f]), byReason[GarbageCollectionReason.UnreferencedPastCutoff].Bytes);
        Assert.Equal(removedFiles.Count(f => f.EndsWith(".bad")), byReason[GarbageCollectionReason.BadPastCutoff].Files);
        Assert.Equal(removedFiles.Where(f => f.EndsWith(".bad")).Sum(f => sizes[f]), byReason[GarbageCollectionReason.BadPastCutoff].Bytes);
        Assert.Equal(0, byReason[GarbageCollectionReason.UnreferencedWithinGrace].Files);
    }

    [Theory]
    [MemberData(nameof(AgedRuns))]
    public void UnreferencedChunksAreWhatGcWouldSweep(string key, int hoursBack)
    {
        var expected = ReferenceStore.Expected[key]!.AsObject();
        var sweptAt48h = ReferenceStore.Expected["gc_after_48h"]!["files_removed"]!.AsArray().Select(n => (string)n!).Order(StringComparer.Ordinal);
        using var copy = SparseReferenceStore.FreshCopy();
        var store = copy.StorePath;
        AgeChunkDir(store, hoursBack);
        var before = Snapshot(store);

        var list = GarbageCollection.FindUnreferencedChunks(store, new GarbageCollectionOptions(), NullTaskState.Instance);

        AssertSameSnapshot(before, Snapshot(store));
        Assert.Equal(sweptAt48h, list.Select(c => Path.GetRelativePath(store, c.Path)).Order(StringComparer.Ordinal));
        var removedNow = expected["files_removed"]!.AsArray().Select(n => (string)n!).ToHashSet();
        foreach (var chunk in list)
        {
            Assert.Equal(removedNow.Contains(Path.GetRelativePath(store, chunk.Path)), chunk.WouldRemoveNow);
            Assert.Equal(chunk.Name.EndsWith(".bad"), chunk.IsBad);
            Assert.Equal(new FileInfo(chunk.Path).Length, chunk.Size);
        }
    }

    [Fact]
    public void SharedLockHolderMakesGcFailWithoutTouchingAnything()
    {
        using var copy = SparseReferenceStore.FreshCopy();
        var store = copy.StorePath;
        AgeChunkDir(store, 48);
        var before = Snapshot(store);
        using (OfdLock.Take(Path.Combine(store, ".lock"), exclusive: false))
        {
            var e = Assert.Throws<PbsException>(() => GarbageCollection.Run(store, new GarbageCollectionOptions(), new OrderedLog()));
            Assert.Equal("ChunkStoreInUse", e.ErrorId);
            Assert.Equal(PbsErrorKind.ResourceBusy, e.Kind);
            Assert.Contains("shared", e.Message);
        }
        AssertSameSnapshot(before, Snapshot(store));
    }

    [Fact]
    public void SecondGcFailsWhileOneRuns()
    {
        using var copy = SparseReferenceStore.FreshCopy();
        var store = copy.StorePath;
        var before = Snapshot(store);
        // Another process's GC (an open-file-description lock conflicts like another process's record lock).
        using (OfdLock.Take(Path.Combine(store, ".lock"), exclusive: true))
        {
            var e = Assert.Throws<PbsException>(() => GarbageCollection.Run(store, new GarbageCollectionOptions(), new OrderedLog()));
            Assert.Equal("GarbageCollectionRunning", e.ErrorId);
        }
        // A GC of this process.
        using (ProcessLocker.For(store).TryExclusive())
        {
            var e = Assert.Throws<PbsException>(() => GarbageCollection.Run(store, new GarbageCollectionOptions(), new OrderedLog()));
            Assert.Equal("GarbageCollectionRunning", e.ErrorId);
        }
        AssertSameSnapshot(before, Snapshot(store));
        // Released: a GC runs now, and a shared guard of this process coexists with it.
        using (ProcessLocker.For(store).TryShared())
            GarbageCollection.Run(store, new GarbageCollectionOptions(), NullTaskState.Instance);
        Assert.False(ProcessLocker.For(store).IsLockedExclusively);
    }

    [Fact]
    public void StoppedGcRemovesNothingAndWritesNoStatus()
    {
        using var copy = SparseReferenceStore.FreshCopy();
        var store = copy.StorePath;
        AgeChunkDir(store, 48);
        var files = ChunkDirFiles(store);
        var status = File.ReadAllText(Path.Combine(store, ".gc-status"));
        using var cts = new CancellationTokenSource();
        var log = new OrderedLog(cts.Token, stopAt: "Start GC phase2 (sweep unused chunks)", cts);
        var e = Assert.Throws<PbsException>(() => GarbageCollection.Run(store, new GarbageCollectionOptions(), log));
        Assert.Equal("OperationStopped", e.ErrorId);
        Assert.Equal(files, ChunkDirFiles(store));
        Assert.Equal(status, File.ReadAllText(Path.Combine(store, ".gc-status")));
    }

    [Fact]
    public void MissingLockFileIsRefused()
    {
        using var copy = SparseReferenceStore.FreshCopy();
        File.Delete(Path.Combine(copy.StorePath, ".lock"));
        var e = Assert.Throws<PbsException>(() => GarbageCollection.Run(copy.StorePath, new GarbageCollectionOptions(), NullTaskState.Instance));
        Assert.Equal("ChunkStoreLockMissing", e.ErrorId);
        Assert.False(File.Exists(Path.Combine(copy.StorePath, ".lock")));
    }

    [Fact]
    public void DotNamedStoreBehindASymlinkKeepsItsChunks()
    {
        using var copy = SparseReferenceStore.FreshCopy();
        var hidden = Path.Combine(copy.Path, ".store");
        Directory.Move(copy.StorePath, hidden);
        var link = Path.Combine(copy.Path, "link");
        Directory.CreateSymbolicLink(link, hidden);
        AgeChunkDir(hidden, 48);
        var log = new OrderedLog();
        var result = GarbageCollection.Run(link + "/", new GarbageCollectionOptions(), log);
        Assert.Equal(23, result.IndexFileCount);
        Assert.Equal(4, result.RemovedChunks);
        foreach (var chunk in ReferenceStore.Expected["store"]!["chunks"]!.AsArray())
            if (chunk!["referenced_by"]!.AsArray().Any(p => !((string)p!).StartsWith('.')))
                Assert.True(File.Exists(Path.Combine(hidden, (string)chunk["path"]!)));
    }

    [Fact]
    public void ExplicitCutoffIsUsedAndLogged()
    {
        using var copy = SparseReferenceStore.FreshCopy();
        AgeChunkDir(copy.StorePath, 12);
        var log = new OrderedLog();
        var result = GarbageCollection.Run(copy.StorePath, new GarbageCollectionOptions { AtimeCutoff = TimeSpan.FromHours(6), SkipAtimeCheck = true }, log);
        Assert.Equal(4, result.RemovedChunks);
        Assert.Equal(2, result.RemovedBad);
        Assert.Equal(result.Phase1Start - TimeSpan.FromHours(6), result.MinimumAtime);
        Assert.Contains(log.Lines, l => l.StartsWith("Using access time cutoff 6h, minimum access time is ", StringComparison.Ordinal));
        Assert.Contains(log.Warnings, w => w.StartsWith("access time safety check skipped", StringComparison.Ordinal));
        var e = Assert.Throws<PbsException>(() => GarbageCollection.Run(copy.StorePath, new GarbageCollectionOptions { AtimeCutoff = TimeSpan.FromDays(3) }, log));
        Assert.Equal("InvalidAtimeCutoff", e.ErrorId);
    }

    [Fact]
    public void DatastoreTuningAndMaintenanceModeApply()
    {
        using var copy = SparseReferenceStore.FreshCopy();
        var store = copy.StorePath;
        AgeChunkDir(store, 12);
        var tuned = DatastoreConfig.Parse($"datastore: store1\n\tpath {store}\n\ttuning gc-atime-cutoff=360,gc-atime-safety-check=0\n");
        var log = new OrderedLog();
        var result = GarbageCollection.Run(Datastore.Open(store, "store1", tuned), new GarbageCollectionOptions(), log);
        Assert.Equal("store1", result.Datastore);
        Assert.Equal(TimeSpan.FromMinutes(360), result.AtimeCutoff);
        Assert.Equal(4, result.RemovedChunks);
        Assert.Contains("Access time update check disabled by datastore tuning options.", log.Lines);

        var readOnly = DatastoreConfig.Parse($"datastore: store1\n\tpath {store}\n\tmaintenance-mode read-only\n");
        var ds = Datastore.Open(store, "store1", readOnly);
        Assert.Equal("DatastoreInMaintenance", Assert.Throws<PbsException>(() => GarbageCollection.Run(ds, new GarbageCollectionOptions(), log)).ErrorId);
        Assert.True(GarbageCollection.Run(ds, new GarbageCollectionOptions { DryRun = true }, log).DryRun);
    }

    [Fact]
    public void CacheOfAnS3DatastoreIsRefused()
    {
        using var copy = SparseReferenceStore.FreshCopy();
        var store = copy.StorePath;
        AgeChunkDir(store, 48);
        var before = Snapshot(store);
        var config = DatastoreConfig.Parse($"datastore: s3store\n\tpath {store}\n\tbackend type=s3,client=minio,bucket=pbs\n");
        var ds = Datastore.Open(store, "s3store", config);
        // GC of an S3 store runs against its bucket (S3GarbageCollectionTests), never as a sweep of the cache: with
        // no such endpoint in s3.cfg (or no s3.cfg, depending on whether an S3 test wrote one yet) it stops first.
        foreach (var dryRun in new[] { false, true })
        {
            var e = Assert.Throws<PbsException>(() => GarbageCollection.Run(ds, new GarbageCollectionOptions { DryRun = dryRun }, new OrderedLog()));
            Assert.Contains(e.ErrorId, new[] { "S3EndpointNotConfigured", "S3ConfigNotFound" });
        }
        // So does listing its unreferenced chunks: the bucket's, never the cache's files.
        Assert.Contains(Assert.Throws<PbsException>(() => GarbageCollection.FindUnreferencedChunks(ds, new GarbageCollectionOptions(), new OrderedLog())).ErrorId,
            new[] { "S3EndpointNotConfigured", "S3ConfigNotFound" });
        AssertSameSnapshot(before, Snapshot(store));
        // The default backend is the file system.
        var plain = DatastoreConfig.Parse($"datastore: s3store\n\tpath {store}\n\tbackend type=filesystem\n");
        Assert.Equal(4, GarbageCollection.Run(Datastore.Open(store, "s3store", plain), new GarbageCollectionOptions(), new OrderedLog()).RemovedChunks);
    }

    [Fact]
    public void NestedDatastoresAreRefusedAsPbsDoes()
    {
        using var copy = SparseReferenceStore.FreshCopy();
        var store = copy.StorePath;
        AgeChunkDir(store, 48);
        var before = Snapshot(store);
        var (outer, inner) = ("n" + Guid.NewGuid().ToString("n")[..10], "n" + Guid.NewGuid().ToString("n")[..10]);
        DatastoreConfigEditor.Add(outer, new Dictionary<string, string> { ["path"] = store });
        DatastoreConfigEditor.Add(inner, new Dictionary<string, string> { ["path"] = Path.Combine(store, "vm", "inner") + "/" });
        var ds = Datastore.Open(store, outer, DatastoreConfig.Load());
        foreach (var dryRun in new[] { false, true })
        {
            var e = Assert.Throws<PbsException>(() => GarbageCollection.Run(ds, new GarbageCollectionOptions { DryRun = dryRun }, new OrderedLog()));
            Assert.Equal(("GcNestedDatastore", PbsErrorKind.InvalidOperation, outer), (e.ErrorId, e.Kind, e.Target));
            Assert.Contains(inner, e.Message);
        }
        AssertSameSnapshot(before, Snapshot(store));

        // A sibling whose name merely starts with the store's is not nested: the check compares path components.
        DatastoreConfigEditor.Update(inner, new Dictionary<string, string?> { ["path"] = store + "-sibling" });
        Assert.Equal(4, GarbageCollection.Run(ds, new GarbageCollectionOptions(), new OrderedLog()).RemovedChunks);
    }

    [Theory]
    [InlineData("/srv/a", "/srv/a/b", true)]
    [InlineData("/srv/a/", "/srv/a", true)]
    [InlineData("/srv/a", "/srv/ab", false)]
    [InlineData("/srv/./a", "/srv/a//b", true)]
    [InlineData("/srv/a", "/srv/b", false)]
    public void NestingComparesAbsolutePathsByComponent(string a, string b, bool nested)
    {
        var config = DatastoreConfig.Parse($"datastore: store-a\n\tpath {a}\n\ndatastore: store-b\n\tpath {b}\n");
        Assert.Equal(nested, config.Get("store-a").FindNesting(config.Entries) is { Other.Name: "store-b" });
        Assert.Equal(nested, config.Get("store-b").FindNesting(config.Entries) is { Other.Name: "store-a" });
    }

    [Theory]
    [InlineData("uuid-1", "pbs", "uuid-1", "pbs/sub", true)]
    [InlineData("uuid-1", "pbs", "uuid-2", "pbs", false)]
    [InlineData("uuid-1", "pbs", "uuid-1", "pbs2", false)]
    public void RemovableDatastoresOnOneDeviceMustNotNest(string deviceA, string pathA, string deviceB, string pathB, bool nested)
    {
        // Removable stores are mounted at /mnt/datastore/<name>, so only their paths on the device can nest.
        var config = DatastoreConfig.Parse(
            $"datastore: store-a\n\tbacking-device {deviceA}\n\tpath {pathA}\n\ndatastore: store-b\n\tbacking-device {deviceB}\n\tpath {pathB}\n");
        Assert.Equal(nested, config.Get("store-a").FindNesting(config.Entries) is not null);
    }

    internal static void AssertSameSnapshot(string expected, string actual)
    {
        var a = expected.Split('\n');
        var b = actual.Split('\n');
        Assert.Equal(a.Except(b).ToArray(), b.Except(a).ToArray());
        Assert.Equal(a.Length, b.Length);
    }

    internal static void AssertStatus(JsonObject expected, GarbageCollectionStatus actual, bool compareUpid = false)
    {
        var json = JsonNode.Parse(actual.ToJson())!.AsObject();
        Assert.Equal(expected.Select(p => p.Key).Order(), json.Select(p => p.Key).Order());
        foreach (var (key, value) in expected)
        {
            if (key == "upid" && !compareUpid) continue;
            Assert.True(JsonNode.DeepEquals(value, json[key]), $"{key}: expected {value}, got {json[key]}");
        }
    }

    /// <summary>Sets the atime of every file under .chunks to now - hours (mtime unchanged); returns the file count.</summary>
    internal static int AgeChunkDir(string store, int hoursBack)
    {
        var atime = DateTimeOffset.UtcNow.ToUnixTimeSeconds() - hoursBack * 3600L;
        var files = Directory.EnumerateFiles(Path.Combine(store, ".chunks"), "*", SearchOption.AllDirectories).ToList();
        foreach (var file in files)
            Assert.Equal(0, Libc.SetTimes(file, atime, null));
        return files.Count;
    }

    private static HashSet<string> ChunkDirFiles(string store)
        => Directory.EnumerateFiles(Path.Combine(store, ".chunks"), "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(store, f)).ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// Every entry below the store with its size, atime and mtime (nanoseconds), in order. Listing a directory may
    /// update its atime once (relatime after extraction), so the tree is listed once before it is recorded.
    /// </summary>
    internal static string Snapshot(string store)
    {
        foreach (var _ in Directory.EnumerateFileSystemEntries(store, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })) { }
        var lines = new List<string>();
        foreach (var entry in Directory.EnumerateFileSystemEntries(store, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
        {
            Assert.Equal(0, Libc.TryLstat(entry, out var st));
            lines.Add($"{Path.GetRelativePath(store, entry)} {st.Mode} {st.Size} {st.Atime.Seconds}.{st.Atime.Nanoseconds} {st.Mtime.Seconds}.{st.Mtime.Nanoseconds}");
        }
        lines.Sort(StringComparer.Ordinal);
        return string.Join('\n', lines);
    }
}

/// <summary>
/// Runs alone, after the parallel tests: other tests read chunk files of the shared pristine extraction, and a read
/// can move a chunk's atime into the second this dry run starts (which PBS counts as in use, not pending).
/// </summary>
[CollectionDefinition(nameof(PristineAtimeCollection), DisableParallelization = true)]
public sealed class PristineAtimeCollection;

[Collection(nameof(PristineAtimeCollection))]
public class GarbageCollectionPristineTests
{
    [Fact]
    public void DryRunOnFullExtractionMatchesPbsRunOnFreshAtimes()
    {
        // The pristine extraction has fresh atimes: what PBS reported for atimes 12 h back (all unreferenced files pending).
        var expected = ReferenceStore.Expected["gc_after_12h"]!.AsObject();
        var store = ReferenceStore.PristinePath;
        // A file with an atime in the second the run starts counts as in use, not pending (PBS's rule): start later.
        var newest = Directory.EnumerateFiles(Path.Combine(store, ".chunks"), "*", SearchOption.AllDirectories)
            .Max(f => Libc.TryLstat(f, out var st) == 0 ? st.Atime.Seconds : 0);
        while (DateTimeOffset.UtcNow.ToUnixTimeSeconds() <= newest) Thread.Sleep(100);
        var log = new OrderedLog();
        var result = GarbageCollection.Run(store, new GarbageCollectionOptions { DryRun = true }, log);
        GarbageCollectionTests.AssertStatus(expected["status"]!.AsObject(), result.Status);
        var lines = log.Lines.Where(l => !GarbageCollectionTests.ProgressLine.IsMatch(l)).Skip(1).ToArray();
        Assert.Equal(expected["log_without_progress_lines"]!.AsArray().Select(n => ((string)n!).Replace("<STORE>", store)), lines);
        // Progress lines as PBS numbers them: phase 1 up to 100%, phase 2 increasing from 1 to 99 at most.
        Assert.Equal("marked 100% (23 of 23 index files)", log.Lines.Last(l => l.StartsWith("marked ", StringComparison.Ordinal)));
        var swept = log.Lines.Where(l => l.StartsWith("processed ", StringComparison.Ordinal))
            .Select(l => Regex.Match(l, @"\Aprocessed (\d+)% \((\d+) chunks\)\z")).ToList();
        Assert.All(swept, m => Assert.True(m.Success));
        var percents = swept.Select(m => int.Parse(m.Groups[1].Value)).ToList();
        Assert.Equal(percents.Order(), percents);
        Assert.All(percents, p => Assert.InRange(p, 1, 99));
        var counts = swept.Select(m => int.Parse(m.Groups[2].Value)).ToList();
        Assert.Equal(counts.Order(), counts);
    }
}

/// <summary>Records log and warning lines in order, warnings rendered with PBS's task-log prefix.</summary>
internal sealed class OrderedLog(CancellationToken cancellation = default, string? stopAt = null, CancellationTokenSource? stopper = null) : ITaskState
{
    private readonly List<string> _lines = new();
    private readonly List<string> _warnings = new();

    public IReadOnlyList<string> Lines { get { lock (_lines) return _lines.ToArray(); } }
    public IReadOnlyList<string> Warnings { get { lock (_lines) return _warnings.ToArray(); } }
    public CancellationToken Cancellation => cancellation;

    public void Log(string message)
    {
        lock (_lines) _lines.Add(message);
        if (message == stopAt) stopper?.Cancel();
    }

    public void Warn(string message)
    {
        lock (_lines) { _lines.Add("WARN: " + message); _warnings.Add(message); }
    }

    public void Progress(int activityId, string activity, string status, int percent) { }
    public void Complete(int activityId, string activity) { }
}

/// <summary>An open-file-description lock on a file: conflicts with record locks like another process's lock would.</summary>
internal sealed class OfdLock : IDisposable
{
    private const int F_OFD_SETLK = 37;
    private readonly int _fd;

    private OfdLock(int fd) => _fd = fd;

    public static OfdLock Take(string path, bool exclusive)
    {
        var fd = Libc.Open(path, Libc.O_RDWR | Libc.O_CLOEXEC, 0);
        Assert.True(fd >= 0, $"open {path}: errno {Libc.LastErrno}");
        var request = new Libc.Flock { Type = exclusive ? Libc.F_WRLCK : Libc.F_RDLCK, Whence = 0, Start = 0, Length = 0 };
        Assert.Equal(0, Libc.FcntlLock(fd, F_OFD_SETLK, ref request));
        return new OfdLock(fd);
    }

    public void Dispose() => Libc.Close(_fd);
}
