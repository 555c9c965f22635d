using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Store;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Backup;

/// <summary>
/// One empty datastore for all ingest tests of a run (creating 65536 chunk directories is slow on a busy machine).
/// Each test writes its own group (<see cref="NewId"/>) and its own data, so tests never see each other's chunks
/// as theirs.
/// </summary>
public static class SharedStore
{
    private static readonly Lazy<(TempDir Dir, Datastore Store)> Instance = new(() =>
    {
        var dir = new TempDir("pbs-ingest-", deleteOnDispose: false);
        FilesystemBackend.Create("ingest", dir.Path);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(dir.Path, true); } catch { } };
        return (dir, Datastore.Open(dir.Path, "ingest"));
    });

    private static int _next;

    public static Datastore Datastore => Instance.Value.Store;

    /// <summary>A backup id no other test of the run uses.</summary>
    public static string NewId(string prefix) => $"{prefix}-{Interlocked.Increment(ref _next)}";
}

/// <summary>
/// Ingest tests lock a snapshot, release it and lock it again at once (write, then export or write the next
/// generation). Other test classes start processes (tar, flock); a child forked at that moment holds a copy of the
/// released lock's fd until it execs, so the relock would meet our own lock, busy. These tests run on their own.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class IngestCollection
{
    public const string Name = "ingest";
}
