using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Locking;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Maintenance;

/// <summary>
/// PBS ≥ 4.1.9's move journal (addendum §5.3): a snapshot renamed behind the walk's back is listed there, and GC
/// marks it at the end of phase 1 and then empties the journal under its lock. Here the strange-path index, whose
/// chunk nothing else references, is "moved" into a directory the walk skips and listed in the journal.
/// </summary>
public class GarbageCollectionMoveJournalTests
{
    private static readonly string OnlyChunk = (string)ReferenceStore.Expected["gc_cases"]!["strange_path_unique_chunk"]!;

    private sealed class MovedStore : IDisposable
    {
        private readonly TempDir _copy = SparseReferenceStore.FreshCopy();

        public MovedStore()
        {
            Name = "journal-" + Guid.NewGuid().ToString("n")[..8];
            Directory.CreateDirectory(Path.Combine(Store, ".moving"));
            File.Move(Path.Combine(Store, "stale-restore", "drive-scsi1.img.fidx"), Path.Combine(Store, ".moving", "drive-scsi1.img.fidx"));
            Journal = MoveJournal.PathFor(Name);
            Directory.CreateDirectory(Path.GetDirectoryName(Journal)!);
            // A moved index, a ghost of a move that failed, an empty line.
            Content = $"{Store}/.moving/drive-scsi1.img.fidx\n{Store}/vm/999/2024-01-01T00:00:00Z/gone.img.fidx\n\n";
            File.WriteAllText(Journal, Content);
            GarbageCollectionTests.AgeChunkDir(Store, 48);
        }

        public string Name { get; }
        public string Store => _copy.StorePath;
        public string Journal { get; }
        public string Content { get; }
        public bool ChunkExists => File.Exists(Path.Combine(Store, ".chunks", OnlyChunk[..4], OnlyChunk));

        public Datastore Configured()
            => Datastore.Open(Store, Name, DatastoreConfig.Parse($"datastore: {Name}\n\tpath {Store}\n"));

        public void Dispose()
        {
            _copy.Dispose();
            Directory.Delete(Path.GetDirectoryName(Journal)!, true);
        }
    }

    [Fact]
    public void JournalEntriesAreMarkedThenTheJournalIsEmptied()
    {
        using var moved = new MovedStore();
        var log = new OrderedLog();
        var result = GarbageCollection.Run(moved.Configured(), new GarbageCollectionOptions(), log);
        Assert.True(moved.ChunkExists);
        Assert.Equal(4, result.RemovedChunks); // as in gc_after_48h: the moved index marked its chunk
        Assert.Equal(23, result.IndexFileCount);
        Assert.Contains("marking 2 index files listed in the move journal", log.Lines);
        Assert.Equal(0, new FileInfo(moved.Journal).Length);
    }

    [Fact]
    public void DryRunCountsJournalEntriesAndLeavesTheJournal()
    {
        using var moved = new MovedStore();
        var result = GarbageCollection.Run(moved.Configured(), new GarbageCollectionOptions { DryRun = true }, new OrderedLog());
        Assert.Equal(4, result.RemovedChunks);
        Assert.Equal(moved.Content, File.ReadAllText(moved.Journal));
        Assert.True(moved.ChunkExists);
    }

    [Fact]
    public void JournalOfAStoreThatIsNotConfiguredIsNeverTouched()
    {
        using var moved = new MovedStore();
        // Opened by path: the name is only the directory's, and the journal under a name that may belong to another
        // store must not be drained.
        var result = GarbageCollection.Run(moved.Store, new GarbageCollectionOptions { DatastoreName = moved.Name }, new OrderedLog());
        Assert.Equal(5, result.RemovedChunks);
        Assert.False(moved.ChunkExists);
        Assert.Equal(moved.Content, File.ReadAllText(moved.Journal));
    }

    [Fact]
    public void BusyJournalFailsTheRunBeforeTheSweep()
    {
        using var moved = new MovedStore();
        var status = File.ReadAllText(Path.Combine(moved.Store, ".gc-status"));
        using (new ChildLockHolder(moved.Journal))
        {
            var log = new OrderedLog();
            var e = Assert.Throws<PbsException>(() => GarbageCollection.Run(moved.Configured(), new GarbageCollectionOptions(), log));
            Assert.Equal("LockBusy", e.ErrorId);
            Assert.DoesNotContain("Start GC phase2 (sweep unused chunks)", log.Lines);
        }
        // The holder's process tree may take a moment to go; .NET's own read would trip over its flock.
        FileLocks.LockFile(moved.Journal, exclusive: true, TimeSpan.FromSeconds(10), "test lock").Dispose();
        Assert.True(moved.ChunkExists);
        Assert.Equal(moved.Content, File.ReadAllText(moved.Journal));
        Assert.Equal(status, File.ReadAllText(Path.Combine(moved.Store, ".gc-status")));
    }
}
