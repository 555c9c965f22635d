using System.Diagnostics;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Native;
using PbsDatastore.Core.Store;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Maintenance;

/// <summary>
/// GC's safety invariant: after a run, every chunk an index of the store references still exists; whatever the
/// store's path looks like, whatever the walk meets, however storage fails. Storage failing on purpose goes
/// through a wrapped backend (<see cref="FaultyBackend"/>), which also works as root, where
/// chmod 000 denies nothing. Stores are aged 48 h, so anything phase 1 misses would be removed.
/// </summary>
public class GarbageCollectionInvariantTests
{
    private static readonly string[] ExpectedRemoved = ReferenceStore.Expected["gc_after_48h"]!["files_removed"]!.AsArray()
        .Select(n => (string)n!).Order(StringComparer.Ordinal).ToArray();

    /// <summary>Chunk files every index outside hidden directories references (what PBS's phase 1 marks).</summary>
    private static readonly string[] Referenced = ReferenceStore.Expected["store"]!["chunks"]!.AsArray()
        .Where(c => c!["referenced_by"]!.AsArray().Any(p => !((string)p!).StartsWith('.')))
        .Select(c => (string)c!["path"]!).ToArray();

    public static TheoryData<string> PathShapes => new() { "spaces", "unicode", "symlinked parent", "trailing slash", "dot-dot" };

    [Theory]
    [MemberData(nameof(PathShapes))]
    public void StorePathOfAnyShapeGivesPbsResult(string shape)
    {
        using var copy = SparseReferenceStore.FreshCopy();
        var path = Reshape(copy, shape);
        GarbageCollectionTests.AgeChunkDir(path, 48);

        var log = new OrderedLog();
        var result = GarbageCollection.Run(path, new GarbageCollectionOptions { DatastoreName = "store1" }, log);

        var expected = ReferenceStore.Expected["gc_after_48h"]!.AsObject();
        GarbageCollectionTests.AssertStatus(expected["status"]!.AsObject(), result.Status);
        AssertInvariant(path);
        Assert.Equal(ExpectedRemoved, Removed(path));
        // The missing-chunk warnings name the index by the path as given, as PBS names it by its configured path.
        Assert.NotEmpty(result.MissingChunks);
        Assert.All(result.MissingChunks, m => Assert.StartsWith(path.TrimEnd('/') + "/", m.IndexPath, StringComparison.Ordinal));
    }

    /// <summary>Moves the extracted store to a path of the given shape; returns the path GC is given.</summary>
    private static string Reshape(TempDir copy, string shape)
    {
        string MoveTo(string relative)
        {
            var target = Path.Combine(copy.Path, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            Directory.Move(copy.StorePath, target);
            return target;
        }
        switch (shape)
        {
            case "spaces": return MoveTo("backup disks/store one ");
            case "unicode": return MoveTo("Sicherung ü/日本 – ストア");
            case "symlinked parent":
                MoveTo("real parent/store");
                Directory.CreateSymbolicLink(Path.Combine(copy.Path, "linked"), Path.Combine(copy.Path, "real parent"));
                return Path.Combine(copy.Path, "linked", "store");
            case "trailing slash": return copy.StorePath + "/";
            case "dot-dot":
                Directory.CreateDirectory(Path.Combine(copy.Path, "elsewhere"));
                return Path.Combine(copy.Path, "elsewhere", "..", "pbs-reference-store");
            default: throw new ArgumentOutOfRangeException(nameof(shape));
        }
    }

    [Fact]
    public void OddEntriesInTheTreeNeverCostAReferencedChunk()
    {
        using var copy = SparseReferenceStore.FreshCopy();
        var store = copy.StorePath;
        var outside = Path.Combine(copy.Path, "outside");
        Directory.CreateDirectory(outside);
        File.Copy(Path.Combine(store, "vm/100/2024-03-01T10:00:00Z/drive-scsi0.img.fidx"), Path.Combine(outside, "foreign.img.fidx"));
        Shell($"""
            cd '{store}'
            # the strange-path index (whose chunk only it references) moved under names that are not UTF-8
            mkdir $'stale-\xff' && mv stale-restore/drive-scsi1.img.fidx $'stale-\xff/drive-\xfe.img.fidx'
            ln -s '{outside}' linked-dir                    # not followed, as PBS does not follow it
            ln -s loop loop                                 # a symlink loop
            ln -s missing-target dangling.img.fidx          # an index symlink to nothing: vanished
            mkdir -p empty/deeper/still lost+found
            """);
        GarbageCollectionTests.AgeChunkDir(store, 48);

        // Permission denied on lost+found in the datastore root is the one walk error PBS ignores.
        var result = RunWithFaults(store, new GarbageCollectionOptions(), Deny("lost+found", Libc.EACCES), new OrderedLog());

        AssertInvariant(store);
        Assert.Equal(ExpectedRemoved, Removed(store));
        Assert.Equal(23, result.IndexFileCount);
        Assert.Equal(0, result.StrangePaths); // a parent that is not UTF-8 is not counted, as in PBS
    }

    [Fact]
    public void LostAndFoundBelowTheRootIsNoExcuse()
    {
        using var copy = SparseReferenceStore.FreshCopy();
        Directory.CreateDirectory(Path.Combine(copy.StorePath, "vm", "lost+found"));
        AssertAbortsBeforePhase2(copy, Deny("vm/lost+found", Libc.EACCES), "GcTraversalPermissionDenied");
    }

    public static TheoryData<string, int, string> PhaseOneFaults => new()
    {
        { "ns/prod", Libc.EACCES, "GcTraversalPermissionDenied" },         // chmod 000 on a namespace
        { "vm", Libc.EACCES, "GcTraversalPermissionDenied" },              // on a type directory in the root
        { "ns/prod/ns/db/vm/400", Libc.EPERM, "GcTraversalPermissionDenied" },
        { "ct/200", 5 /* EIO */, "GcTraversalFailed" },                    // a failing disk
        { "vm/100/2024-03-01T10:00:00Z/drive-scsi0.img.fidx", Libc.EACCES, "GcIndexOpenFailed" },
        { "vm/100/2024-03-01T10:00:00Z/drive-scsi0.img.fidx", 5, "GcIndexOpenFailed" },
        { ".chunks/" + ReferencedChunk, 5, "GcTouchFailed" },              // touching a referenced chunk
        { ".chunks/" + ReferencedChunk, 30 /* EROFS */, "GcTouchFailed" },
    };

    private static string ReferencedChunk => Referenced[0]["/.chunks".Length..].TrimStart('/');

    [Theory]
    [MemberData(nameof(PhaseOneFaults))]
    public void FaultInPhaseOneAbortsBeforePhaseTwoAndRemovesNothing(string path, int errno, string errorId)
    {
        using var copy = SparseReferenceStore.FreshCopy();
        AssertAbortsBeforePhase2(copy, Deny(path, errno), errorId);
    }

    [Fact]
    public void UnreadableDirectoryAbortsForRealWhereChmodDenies()
    {
        using var copy = SparseReferenceStore.FreshCopy();
        var dir = Path.Combine(copy.StorePath, "ns", "prod");
        File.SetUnixFileMode(dir, UnixFileMode.None);
        try
        {
            // Root reads it anyway (CAP_DAC_READ_SEARCH): then the walk goes on and the invariant must simply hold;
            // the fault-seam cases above cover the denial for root.
            bool denied;
            try { denied = Directory.GetFileSystemEntries(dir).Length < 0; }
            catch (UnauthorizedAccessException) { denied = true; }
            if (!denied)
            {
                GarbageCollectionTests.AgeChunkDir(copy.StorePath, 48);
                GarbageCollection.Run(copy.StorePath, new GarbageCollectionOptions(), new OrderedLog());
                File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
                AssertInvariant(copy.StorePath);
                return;
            }
            AssertAbortsBeforePhase2(copy, null, "GcTraversalPermissionDenied");
        }
        finally
        {
            File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        }
    }

    public static TheoryData<string, int, string> PhaseTwoFaults => new()
    {
        { ".chunks/" + ExpectedRemovedChunk[..4], Libc.EACCES, "GcChunkIteratorFailed" },
        { ".chunks/" + ExpectedRemovedChunk, 5, "GcUnlinkFailed" },
    };

    private static string ExpectedRemovedChunk => ExpectedRemoved[0][".chunks/".Length..];

    [Theory]
    [MemberData(nameof(PhaseTwoFaults))]
    public void FaultInPhaseTwoAbortsWithoutTheStatusAndKeepsReferencedChunks(string path, int errno, string errorId)
    {
        using var copy = SparseReferenceStore.FreshCopy();
        var store = copy.StorePath;
        GarbageCollectionTests.AgeChunkDir(store, 48);
        var status = File.ReadAllText(Path.Combine(store, ".gc-status"));
        var e = Assert.Throws<PbsException>(() => RunWithFaults(store, new GarbageCollectionOptions(), Deny(path, errno), new OrderedLog()));
        Assert.Equal(errorId, e.ErrorId);
        AssertInvariant(store);
        Assert.Subset(ExpectedRemoved.ToHashSet(), Removed(store).ToHashSet());
        Assert.Equal(status, File.ReadAllText(Path.Combine(store, ".gc-status")));
    }

    [Fact]
    public void StopDuringTheSweepRemovesOnlyWhatWasDecided()
    {
        using var copy = SparseReferenceStore.FreshCopy();
        var store = copy.StorePath;
        GarbageCollectionTests.AgeChunkDir(store, 48);
        var status = File.ReadAllText(Path.Combine(store, ".gc-status"));
        using var cts = new CancellationTokenSource();
        var unlinks = new List<string>();
        var options = new GarbageCollectionOptions { Parallelism = 1 };
        // Ctrl+C arrives while the first removal is under way: that file was decided and goes, nothing after it.
        Func<string, int> faults = p =>
        {
            if (p.StartsWith(".chunks/", StringComparison.Ordinal) && p.Length > ".chunks/xxxx/".Length && ExpectedRemoved.Contains(p))
            {
                lock (unlinks) unlinks.Add(p);
                cts.Cancel();
            }
            return 0;
        };
        var e = Assert.Throws<PbsException>(() => RunWithFaults(store, options, faults, new OrderedLog(cts.Token)));
        Assert.Equal("OperationStopped", e.ErrorId);
        Assert.Equal(unlinks.Order(StringComparer.Ordinal), Removed(store));
        Assert.Single(unlinks);
        AssertInvariant(store);
        Assert.Equal(status, File.ReadAllText(Path.Combine(store, ".gc-status")));
    }

    [Fact]
    public void IndexThatIsAFifoAbortsInsteadOfHanging()
    {
        using var copy = SparseReferenceStore.FreshCopy();
        Shell($"mkfifo '{Path.Combine(copy.StorePath, "vm", "pipe.img.fidx")}'");
        AssertAbortsBeforePhase2(copy, null, "GcIndexUnreadable");
    }

    /// <summary>A garbage collection of the store at <paramref name="store"/> on storage failing as <paramref name="faults"/> says.</summary>
    private static GarbageCollectionResult RunWithFaults(string store, GarbageCollectionOptions options, Func<string, int> faults, ITaskState state)
    {
        using var backend = new FaultyBackend(FilesystemBackend.Open(Path.GetFileName(store.TrimEnd('/')), store), faults);
        return GarbageCollection.Run(backend, options, state);
    }

    /// <summary>A fault for one path (relative to the datastore), everything else goes ahead.</summary>
    private static Func<string, int> Deny(string path, int errno) => p => p == path ? errno : 0;

    private static void AssertAbortsBeforePhase2(TempDir copy, Func<string, int>? faults, string errorId)
    {
        var store = copy.StorePath;
        GarbageCollectionTests.AgeChunkDir(store, 48);
        var before = ChunkFiles(store);
        var status = File.ReadAllText(Path.Combine(store, ".gc-status"));
        var log = new OrderedLog();
        var e = Assert.Throws<PbsException>(() => RunWithFaults(store, new GarbageCollectionOptions(), faults ?? (_ => 0), log));
        Assert.Equal(errorId, e.ErrorId);
        Assert.DoesNotContain("Start GC phase2 (sweep unused chunks)", log.Lines);
        Assert.Equal(before, ChunkFiles(store));
        Assert.Equal(status, File.ReadAllText(Path.Combine(store, ".gc-status")));
    }

    private static void AssertInvariant(string store)
    {
        foreach (var chunk in Referenced)
            Assert.True(File.Exists(Path.Combine(store, chunk)), $"referenced chunk {chunk} was removed");
    }

    private static string[] ChunkFiles(string store)
        => Directory.EnumerateFiles(Path.Combine(store, ".chunks"), "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(store, f)).Order(StringComparer.Ordinal).ToArray();

    /// <summary>Chunk-store files of the pristine extraction that are gone from <paramref name="store"/>.</summary>
    private static string[] Removed(string store)
    {
        var pristine = ChunkFiles(ReferenceStore.PristinePath);
        return pristine.Except(ChunkFiles(store), StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
    }

    private static void Shell(string script)
    {
        var psi = new ProcessStartInfo("bash", ["-euc", script]) { RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, err);
    }
}
