using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Hierarchy;

/// <summary>
/// A datastore's backend descriptors (root and .chunks) are released by Dispose, never under a job that holds a
/// lease, and opened again on the next use.
/// </summary>
public class DatastoreDisposeTests
{
    private static readonly string[] ExpectedBad = [.. ReferenceStore.Expected["store"]!["bad_files"]!.AsArray()
        .Select(f => ((string)f!["name"]!)[..64]).Distinct().Order(StringComparer.Ordinal)];

    [Fact]
    public void Dispose_waits_for_the_last_lease_and_a_later_use_opens_the_backend_again()
    {
        using var copy = ReferenceStore.FreshCopy();
        var store = Datastore.Open(copy.StorePath);
        Assert.Equal(0, DescriptorsUnder(copy.StorePath));

        var lease = store.LeaseBackend();
        Assert.Equal(2, DescriptorsUnder(copy.StorePath));
        store.Dispose();
        Assert.Equal(2, DescriptorsUnder(copy.StorePath));
        Assert.Equal(ExpectedBad, BadDigests(store));
        Assert.Same(lease.Backend, store.Backend);
        lease.Dispose();
        lease.Dispose();
        Assert.Equal(0, DescriptorsUnder(copy.StorePath));

        Assert.Equal(ExpectedBad, BadDigests(store));
        Assert.Equal(2, DescriptorsUnder(copy.StorePath));
        store.Dispose();
        Assert.Equal(0, DescriptorsUnder(copy.StorePath));
    }

    private static string[] BadDigests(Datastore store)
        => [.. ChunkReferences.FindBad(store, NullTaskState.Instance).Select(r => r.Digest.ToString())];

    /// <summary>This process's open descriptors of <paramref name="dir"/> and what lies below it.</summary>
    private static int DescriptorsUnder(string dir)
    {
        var count = 0;
        foreach (var fd in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            string? target;
            try { target = new FileInfo(fd).LinkTarget; }
            catch (IOException) { continue; }
            if (target == dir || target?.StartsWith(dir + "/", StringComparison.Ordinal) == true) count++;
        }
        return count;
    }
}
