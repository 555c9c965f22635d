using System.Text.Json.Nodes;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Locking;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Maintenance;

/// <summary>
/// While a GC runs on a configured datastore it is registered in PBS's active-operations file (§12.5) as a write
/// operation, so PBS does not take the store for idle (destroy, unmount, S3 refresh wait for it).
/// </summary>
public class GarbageCollectionActiveOperationsTests
{
    [Fact]
    public void RunIsRegisteredAsAWriteOperationWhileItLasts()
    {
        using var copy = SparseReferenceStore.FreshCopy();
        var name = "activeops-" + Guid.NewGuid().ToString("n")[..8];
        Directory.CreateDirectory(ActiveOperations.Directory);
        var file = ActiveOperations.FileFor(name);
        var init = ActiveOperations.ProcessStartTime(1)!.Value;
        // A live process's entry stays as it is; an entry of a process that is gone is dropped.
        var other = Entry(1, init, 2, 0);
        File.WriteAllText(file, $"[{other},{Entry(2147483646, 1, 0, 1)}]");
        var datastore = Datastore.Open(copy.StorePath, name, DatastoreConfig.Parse($"datastore: {name}\n\tpath {copy.StorePath}\n"));

        string? during = null;
        // Seen from inside the run: the first directory the walk opens.
        datastore.WrapBackend(inner => new FaultyBackend(inner, _ =>
        {
            during ??= File.ReadAllText(file);
            return 0;
        }));
        var options = new GarbageCollectionOptions { SkipAtimeCheck = true };
        GarbageCollection.Run(datastore, options, new OrderedLog());

        var start = ActiveOperations.ProcessStartTime(Environment.ProcessId);
        Assert.Equal($"[{other},{Entry(Environment.ProcessId, start!.Value, 0, 1)}]", during);
        Assert.Equal($"[{other}]", File.ReadAllText(file));

        // A dry run is a read operation.
        during = null;
        GarbageCollection.Run(datastore, options with { DryRun = true }, new OrderedLog());
        var own = JsonNode.Parse(during!)!.AsArray().Single(e => (int)e!["pid"]! == Environment.ProcessId)!;
        Assert.Equal(1, (int)own["active_operations"]!["read"]!);
        Assert.Equal(0, (int)own["active_operations"]!["write"]!);
        Assert.Equal($"[{other}]", File.ReadAllText(file));
        File.Delete(file);
        File.Delete(file + ".lock");
    }

    private static string Entry(long pid, long start, int read, int write)
        => $"{{\"pid\":{pid},\"starttime\":{start},\"active_operations\":{{\"read\":{read},\"write\":{write}}}}}";

    [Theory]
    [InlineData("{broken")]
    [InlineData("[{\"pid\":\"one\",\"starttime\":1}]")]
    public void FileThatPbsCouldNotReadStopsTheRunBeforeAnythingHappens(string content)
    {
        using var copy = SparseReferenceStore.FreshCopy();
        var name = "activeops-" + Guid.NewGuid().ToString("n")[..8];
        Directory.CreateDirectory(ActiveOperations.Directory);
        var file = ActiveOperations.FileFor(name);
        File.WriteAllText(file, content);
        var datastore = Datastore.Open(copy.StorePath, name, DatastoreConfig.Parse($"datastore: {name}\n\tpath {copy.StorePath}\n"));
        var log = new OrderedLog();
        var e = Assert.Throws<PbsException>(() => GarbageCollection.Run(datastore, new GarbageCollectionOptions(), log));
        Assert.Equal("ActiveOperationsFailed", e.ErrorId);
        Assert.DoesNotContain("Start GC phase1 (mark used chunks)", log.Lines);
        Assert.Equal(content, File.ReadAllText(file));
        File.Delete(file);
        File.Delete(file + ".lock");
    }
}
