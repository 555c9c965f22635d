using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Native;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Maintenance;

/// <summary>
/// Against reality: on a fresh copy of the reference store, after a first GC has removed what was garbage
/// already, measure items, remove them, run GC again with every chunk's atime in the past: the bytes GC frees are
/// the exclusive bytes measured. (Removal is a plain recursive delete of the directories here.)
/// </summary>
public class SpaceAccountingGcTests
{
    private static readonly GarbageCollectionOptions Gc = new() { AtimeCutoff = GarbageCollectionOptions.MinAtimeCutoff, SkipAtimeCheck = true };

    [Fact]
    public void RemovingMeasuredItemsAndCollectingFreesTheirExclusiveBytes()
    {
        using var copy = ReferenceStore.FreshCopy();
        var store = copy.StorePath;
        AgeChunks(store);
        GarbageCollection.Run(store, Gc, NullTaskState.Instance);

        // One after another on the same copy: a set of snapshots of two groups, a group whose snapshot references
        // missing chunks (one kept alive as a .bad file), a group with a protected snapshot, then a namespace.
        string[][] steps =
        [
            ["vm/100/2024-03-01T10:00:00Z", "vm/100/2024-03-02T10:00:00Z", "ns/prod/vm/101/2024-03-01T22:00:00Z"],
            ["ns/prod/ns/db/ct/300"],
            ["ct/200"],
            ["ns/prod"],
        ];
        foreach (var items in steps)
        {
            var usage = SpaceAccounting.Measure(store, items.Select(i => new AccountingMember(i, i)).ToList(), NullTaskState.Instance);
            foreach (var item in items) Directory.Delete(Path.Combine(store, item), recursive: true);
            AgeChunks(store);
            var result = GarbageCollection.Run(store, Gc, NullTaskState.Instance);

            Assert.True(usage.ExclusiveBytes > 0, string.Join(", ", items));
            Assert.Equal(usage.ExclusiveBytes, result.RemovedBytes);
            // Exclusive chunks that are missing free only their .bad files, which GC counts apart.
            Assert.InRange(result.RemovedChunks, usage.ExclusiveChunks - usage.MissingChunks, usage.ExclusiveChunks);
        }
    }

    /// <summary>Every file under .chunks accessed two days ago, as after a quiet period.</summary>
    private static void AgeChunks(string store)
    {
        var old = DateTimeOffset.UtcNow.AddDays(-2).ToUnixTimeSeconds();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(store, ".chunks"), "*", SearchOption.AllDirectories))
            Assert.Equal(0, Libc.SetTimes(file, old, null));
    }
}
