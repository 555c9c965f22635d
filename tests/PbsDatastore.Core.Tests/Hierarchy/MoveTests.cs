using System.Text.Json.Nodes;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Locking;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Hierarchy;

/// <summary>
/// Group and namespace moves (PBS ≥ 4.1.9, addendum §5.2/§5.3) on copies of the reference store: every expected
/// snapshot arrives byte for byte, the journal lists each moved index before its rename, GC afterwards removes
/// exactly what it removes without a move, and every refusal leaves the store as it was.
/// </summary>
public class MoveTests
{
    public static readonly TheoryData<string> Versions = new() { "4.1.9", "3.2.4", "none" };

    private static JsonArray ExpectedGroups => ReferenceStore.Expected["store"]!["groups"]!.AsArray();
    private static JsonArray ExpectedSnapshots => ReferenceStore.Expected["store"]!["snapshots"]!.AsArray();

    private static Datastore Open(string storePath, string version = "4.1.9", bool sentinel = false)
    {
        var name = "mv" + Guid.NewGuid().ToString("n")[..10];
        var scheme = version == "none" ? LockScheme.For(null, false) : LockScheme.For(version, sentinel);
        return Datastore.Open(storePath, name, DatastoreConfig.Parse($"datastore: {name}\n\tpath {storePath}\n"), scheme);
    }

    private static BackupGroup Group(Datastore s, JsonNode g)
        => s.Group(BackupNamespace.Parse((string)g["ns"]!), BackupTypes.Parse((string)g["type"]!), (string)g["id"]!);

    private static string Journal(Datastore s) => MoveJournal.PathFor(s.Name);

    private static List<string> Tree(string root)
        => Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(root, p) + (File.Exists(p) ? ":" + Convert.ToHexString(File.ReadAllBytes(p)) : ""))
            .Order(StringComparer.Ordinal).ToList();

    [Theory, MemberData(nameof(Versions))]
    public void Every_group_moves_with_identical_files_owner_notes_and_journal(string version)
    {
        using var dir = StoreCopy.WithoutChunks();
        var store = Open(dir.StorePath, version);
        var target = BackupNamespace.Parse("moved");
        foreach (var g in ExpectedGroups)
        {
            var result = MovePlan.ForGroup(Group(store, g!), target).Execute();
            Assert.True(result.Complete, result.Groups[0].Failure?.Message);
            Assert.Equal((int)g!["snapshot_count"]!, result.Groups[0].MovedSnapshots);
            Assert.False(Group(store, g).Exists);
            var moved = store.Group(target, BackupTypes.Parse((string)g["type"]!), (string)g["id"]!);
            Assert.Equal((string)g["owner_file"]!, File.ReadAllText(moved.OwnerPath));
            Assert.Equal((string?)g["notes_file"], moved.ReadNotes());
            Assert.Equal((int)g["snapshot_count"]!, moved.ListSnapshots().Count());
        }

        var journal = File.ReadAllLines(Journal(store));
        var expectedJournal = new List<string>();
        foreach (var s in ExpectedSnapshots)
        {
            var from = Path.Combine(ReferenceStore.PristinePath, (string)s!["path"]!);
            var to = Path.Combine(store.NamespacePath(target), (string)s["type"]!, (string)s["id"]!, (string)s["time_string"]!);
            Assert.Equal(Tree(from), Tree(to));
            var snapshot = Group(store, s).Snapshot((string)s["time_string"]!);
            Assert.False(File.Exists(BackupLocks.SnapshotLockFile(snapshot)));
            Assert.False(File.Exists(BackupLocks.ManifestLockFile(snapshot)));
            expectedJournal.AddRange(Directory.EnumerateFiles(to).Where(f => f.EndsWith(".fidx") || f.EndsWith(".didx")));
        }
        Assert.Equal(expectedJournal.Order(StringComparer.Ordinal), journal.Order(StringComparer.Ordinal));
        // The emptied source namespaces stay (a group move never removes namespaces).
        Assert.True(store.NamespaceExists(BackupNamespace.Parse("prod/db")));
    }

    [Fact]
    public void Gc_after_a_namespace_move_removes_exactly_what_it_removes_without_one()
    {
        using var copy = SparseReferenceStore.FreshCopy();
        var store = Open(copy.StorePath);
        store.CreateNamespace(BackupNamespace.Parse("archive"));
        var plan = MovePlan.ForNamespace(store, BackupNamespace.Parse("prod"), BackupNamespace.Parse("archive/prod"));
        Assert.Equal(ExpectedGroups.Count(g => ((string)g!["ns"]!).StartsWith("prod")), plan.Groups.Count);
        var result = plan.Execute();
        Assert.True(result.Complete);
        Assert.False(store.NamespaceExists(BackupNamespace.Parse("prod")));
        Assert.Equal(["archive/prod", "archive/prod/db"], result.CreatedNamespaces.Select(n => n.Name));

        var expected = ReferenceStore.Expected["gc_after_48h"]!;
        GarbageCollectionTests.AgeChunkDir(copy.StorePath, 48);
        var gc = GarbageCollection.Run(store, new GarbageCollectionOptions(), new OrderedLog());
        var removed = expected["files_removed"]!.AsArray().Select(n => Path.Combine(copy.StorePath, (string)n!));
        Assert.All(removed, f => Assert.False(File.Exists(f)));
        foreach (var chunk in ReferenceStore.Expected["store"]!["chunks"]!.AsArray())
        {
            var referenced = chunk!["referenced_by"]!.AsArray().Any(p => !((string)p!).StartsWith('.') && !((string)p!).StartsWith("stale-restore"));
            if (referenced) Assert.True(File.Exists(Path.Combine(copy.StorePath, (string)chunk["path"]!)), (string)chunk["path"]!);
        }
        Assert.Equal((int)expected["chunk_dir_files_after"]!, Directory.EnumerateFiles(Path.Combine(copy.StorePath, ".chunks"), "*", SearchOption.AllDirectories).Count());
        Assert.Equal(0, new FileInfo(Journal(store)).Length); // drained by the GC
        Assert.True(gc.IndexFileCount > 0);
    }

    [Fact]
    public void Journal_lists_the_future_paths_before_the_rename_and_a_failed_rename_loses_nothing()
    {
        using var dir = StoreCopy.WithoutChunks();
        var store = Open(dir.StorePath);
        var group = store.Group(BackupNamespace.Root, BackupType.Vm, "100");
        var before = group.ListSnapshots().Select(s => s.DirectoryName).ToList();
        var seen = 0;
        // Storage seen from inside the move: each snapshot rename, after its journal entry was written.
        store.WrapBackend(inner => new FaultyBackend(inner, _ => 0)
        {
            Renames = (fromRelative, toRelative) =>
            {
                var (from, to) = (Path.Combine(store.Path, fromRelative), Path.Combine(store.Path, toRelative));
                if (File.Exists(from)) return 0; // the group's notes, not a snapshot
                Assert.True(Directory.Exists(from));
                Assert.False(Directory.Exists(to));
                var lines = File.ReadAllLines(Journal(store));
                Assert.Contains(Path.Combine(to, "drive-scsi0.img.fidx"), lines);
                if (++seen == 2) throw new PbsException("TestFault", PbsErrorKind.WriteError, "injected", to);
                return 0;
            },
        });
        var result = MovePlan.ForGroup(group, BackupNamespace.Parse("prod")).Execute();

        Assert.False(result.Complete);
        Assert.Equal("TestFault", result.Groups[0].Failure!.ErrorId);
        Assert.Equal(1, result.Groups[0].MovedSnapshots);
        Assert.Equal([group], result.LeftBehind);
        var target = store.Group(BackupNamespace.Parse("prod"), BackupType.Vm, "100");
        Assert.Equal(before[..1], target.ListSnapshots().Select(s => s.DirectoryName));
        Assert.Equal(before[1..], group.ListSnapshots().Select(s => s.DirectoryName));
        Assert.NotNull(group.ReadOwner());
        // Resuming is an ordinary merge: the moved snapshot is older than every one left behind.
        Assert.True(MovePlan.ForGroup(group, BackupNamespace.Parse("prod")).Execute().Complete);
        Assert.Equal(before, target.ListSnapshots().Select(s => s.DirectoryName));
    }

    public static readonly TheoryData<string> HeldLocks = new() { "group-file", "group-dir", "snapshot-file", "snapshot-dir" };

    [Theory, MemberData(nameof(HeldLocks))]
    public void A_lock_held_by_another_process_leaves_the_group_untouched(string which)
    {
        using var dir = StoreCopy.WithoutChunks();
        var store = Open(dir.StorePath);
        var group = store.Group(BackupNamespace.Root, BackupType.Vm, "100");
        var last = group.ListSnapshots().Last();
        var path = which switch
        {
            "group-file" => BackupLocks.GroupLockFile(group),
            "group-dir" => group.FullPath,
            "snapshot-file" => BackupLocks.SnapshotLockFile(last),
            _ => last.FullPath,
        };
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var before = Tree(dir.StorePath);
        MoveResult result;
        using (new ChildLockHolder(path))
            result = MovePlan.ForGroup(group, BackupNamespace.Parse("prod")).Execute();
        Assert.Equal("LockBusy", result.Groups[0].Failure!.ErrorId);
        Assert.Contains("held by pid", result.Groups[0].Failure!.Message);
        Assert.Equal(0, result.Groups[0].MovedSnapshots);
        Assert.Equal(before, Tree(dir.StorePath));
    }

    [Fact]
    public void A_running_gc_of_another_process_refuses_the_move()
    {
        using var dir = StoreCopy.WithoutChunks();
        var store = Open(dir.StorePath);
        var plan = MovePlan.ForGroup(store.Group(BackupNamespace.Root, BackupType.Vm, "100"), BackupNamespace.Parse("prod"));
        var before = Tree(dir.StorePath);
        using (OfdLock.Take(store.ProcessLockPath, exclusive: true))
        {
            var e = Assert.Throws<PbsException>(() => plan.Execute());
            Assert.Equal("GarbageCollectionRunning", e.ErrorId);
            Assert.Contains("garbage collection", e.Message);
        }
        Assert.Equal(before, Tree(dir.StorePath));
        // A PBS backup (shared holder) does not stop a move.
        using (OfdLock.Take(store.ProcessLockPath, exclusive: false))
            Assert.True(plan.Execute().Complete);
    }

    [Fact]
    public void A_store_not_in_datastore_cfg_gets_no_journal_under_a_guessed_name()
    {
        using var dir = StoreCopy.WithoutChunks();
        var store = Datastore.Open(dir.StorePath, locking: LockScheme.For("4.1.9", false));
        Assert.Null(store.Config);
        var state = new RecordingTaskState();
        Assert.True(MovePlan.ForGroup(store.Group(BackupNamespace.Root, BackupType.Vm, "100"), BackupNamespace.Parse("prod")).Execute(state).Complete);
        Assert.False(File.Exists(Journal(store)));
        Assert.Contains(state.Logs, l => l.Contains("no move journal is written"));
    }

    [Fact]
    public void Old_locking_mode_refuses_moves()
    {
        using var dir = StoreCopy.WithoutChunks();
        var store = Open(dir.StorePath, "4.1.9", sentinel: true);
        var group = store.Group(BackupNamespace.Root, BackupType.Vm, "100");
        Assert.Equal("MoveRefusedOldLocking",
            Assert.Throws<PbsException>(() => MovePlan.ForGroup(group, BackupNamespace.Parse("prod"))).ErrorId);
        Assert.Equal("MoveRefusedOldLocking",
            Assert.Throws<PbsException>(() => MovePlan.ForNamespace(store, BackupNamespace.Parse("prod"), BackupNamespace.Parse("x"))).ErrorId);
        Assert.True(group.Exists);
    }

    [Fact]
    public void Merge_rules_are_enforced_before_anything_moves()
    {
        using var dir = StoreCopy.WithoutChunks();
        var store = Open(dir.StorePath);
        var prod = BackupNamespace.Parse("prod");
        // Different owner: ct/300 (backup@pbs!token1) into a ct/300 owned by root@pam.
        var ct = store.Group(prod, BackupType.Ct, "300");
        BackupGroup.CreateDirectory(Path.GetDirectoryName(ct.FullPath)!);
        ct.CreateAndLock(Authid.Parse("root@pam")).Dispose();
        var src = store.Group(BackupNamespace.Parse("prod/db"), BackupType.Ct, "300");
        Assert.Equal("MoveOwnerMismatch", Assert.Throws<PbsException>(() => MovePlan.ForGroup(src, prod)).ErrorId);
        // Same owner but a target snapshot not older than the oldest source snapshot.
        ct.SetOwner(src.ReadOwner()!);
        using (var locked = ct.CreateAndLock(src.ReadOwner()!))
            locked.CreateSnapshot(src.ListSnapshots().First().Time).Dispose();
        Assert.Equal("MoveMergeConflict", Assert.Throws<PbsException>(() => MovePlan.ForGroup(src, prod)).ErrorId);
        Assert.Equal("MoveTargetExists", Assert.Throws<PbsException>(() => MovePlan.ForGroup(src, prod, allowMerge: false)).ErrorId);
        Assert.Equal(2, src.ListSnapshots().Count());
        Assert.Equal("MoveSameNamespace", Assert.Throws<PbsException>(() => MovePlan.ForGroup(src, src.Namespace)).ErrorId);
        Assert.Equal("InvalidNamespace", Assert.Throws<PbsException>(() => BackupNamespace.Parse("../x")).ErrorId);
        Assert.Equal("InvalidBackupId", Assert.Throws<PbsException>(() => store.Group(prod, BackupType.Vm, "a/b")).ErrorId);
    }

    [Fact]
    public void Symlinked_directories_are_never_followed()
    {
        using var dir = StoreCopy.WithoutChunks();
        using var outside = new TempDir();
        var store = Open(dir.StorePath);
        Directory.CreateDirectory(Path.Combine(outside.Path, "vm"));
        Directory.CreateSymbolicLink(Path.Combine(dir.StorePath, "ns", "prod", "ns", "evil"), outside.Path);
        var group = store.Group(BackupNamespace.Root, BackupType.Vm, "100");
        Assert.Equal("MoveUnsafePath",
            Assert.Throws<PbsException>(() => MovePlan.ForGroup(group, BackupNamespace.Parse("prod/evil"))).ErrorId);
        Assert.Equal("MoveUnsafePath",
            Assert.Throws<PbsException>(() => MovePlan.ForGroup(group, BackupNamespace.Parse("prod/evil/sub"))).ErrorId);
        // A symlinked type directory in the target.
        Directory.CreateSymbolicLink(Path.Combine(dir.StorePath, "ns", "prod", "ct"), Path.Combine(outside.Path, "vm"));
        var ct = store.Group(BackupNamespace.Root, BackupType.Ct, "200");
        Assert.Equal("MoveUnsafePath", Assert.Throws<PbsException>(() => MovePlan.ForGroup(ct, BackupNamespace.Parse("prod"))).ErrorId);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(outside.Path, "vm")));
        Assert.True(group.Exists && ct.Exists);
    }

    [Fact]
    public void Namespace_move_validation()
    {
        using var dir = StoreCopy.WithoutChunks();
        var store = Open(dir.StorePath);
        PbsException Refused(string from, string to)
            => Assert.Throws<PbsException>(() => MovePlan.ForNamespace(store, BackupNamespace.Parse(from), BackupNamespace.Parse(to)));
        Assert.Equal("MoveIntoOwnSubtree", Refused("prod", "prod/db/x").ErrorId);
        Assert.Equal("MoveIntoOwnSubtree", Refused("prod", "prod").ErrorId);
        Assert.Equal("MoveRootNamespace", Refused("", "x").ErrorId);
        Assert.Equal("NamespaceNotFound", Refused("nope", "x").ErrorId);
        Assert.Equal("NamespaceNotFound", Refused("prod", "a/b").ErrorId);
        // prod/db one level deeper under a/b/c/d/e/f would need 8 levels.
        var deep = BackupNamespace.Root;
        foreach (var c in "abcdef") deep = store.CreateNamespace(deep.Child(c.ToString()));
        Assert.Equal("MoveTooDeep", Refused("prod", "a/b/c/d/e/f/p").ErrorId);
    }

    [Fact]
    public void Namespace_move_with_a_busy_group_reports_it_and_keeps_the_source()
    {
        using var dir = StoreCopy.WithoutChunks();
        var store = Open(dir.StorePath);
        var busy = store.Group(BackupNamespace.Parse("prod/db"), BackupType.Vm, "400");
        MoveResult result;
        using (new ChildLockHolder(busy.FullPath))
            result = MovePlan.ForNamespace(store, BackupNamespace.Parse("prod"), BackupNamespace.Parse("moved")).Execute();
        Assert.False(result.Complete);
        Assert.Equal([busy], result.LeftBehind);
        Assert.True(busy.Exists);
        Assert.Single(busy.ListSnapshots());
        // Everything else arrived; the busy group's namespaces (and only those) stay.
        var total = 0;
        foreach (var ns in store.ListNamespaces(BackupNamespace.Parse("moved")))
            total += store.ListGroups(ns).Sum(g => g.ListSnapshots().Count());
        Assert.Equal(ExpectedSnapshots.Count(s => ((string)s!["ns"]!).StartsWith("prod")) - 1, total);
        Assert.Equal(["prod/db", "prod"], result.Plan.NamespacesToRemove.Select(n => n.Name));
        Assert.Empty(result.RemovedNamespaces);
        Assert.Equal(["", "moved", "moved/db", "prod", "prod/db"], store.ListNamespaces().Select(n => n.Name));
    }

    [Fact]
    public void Keep_source_leaves_the_emptied_namespaces()
    {
        using var dir = StoreCopy.WithoutChunks();
        var store = Open(dir.StorePath);
        var result = MovePlan.ForNamespace(store, BackupNamespace.Parse("prod/db"), BackupNamespace.Parse("db"), deleteSource: false).Execute();
        Assert.True(result.Complete);
        Assert.Empty(result.RemovedNamespaces);
        Assert.True(store.NamespaceExists(BackupNamespace.Parse("prod/db")));
        Assert.Empty(store.ListGroups(BackupNamespace.Parse("prod/db")));
        Assert.Equal(2, store.ListGroups(BackupNamespace.Parse("db")).Count());
    }
}
