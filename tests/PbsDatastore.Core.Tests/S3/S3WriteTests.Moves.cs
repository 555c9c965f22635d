using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.S3;

/// <summary>
/// Group and namespace moves on an S3 store (PBS ≥ 4.1.9, addendum §5.2): objects copied to the target keys, the
/// cache renamed, the source objects deleted; prefixes never reach `vm/1000` or `prod2`; a move interrupted by the
/// bucket loses nothing and a rerun completes it.
/// </summary>
public partial class S3WriteTests
{
    /// <summary>Keys below <paramref name="prefix"/>, relative to it.</summary>
    private static List<string> KeysBelow(S3Store s, string prefix)
        => s.Client.ListObjects(prefix).Select(o => o.Key[prefix.Length..]).Order(StringComparer.Ordinal).ToList();

    [Fact]
    public void Moving_a_group_moves_its_objects_and_never_those_of_a_group_whose_id_starts_alike()
    {
        using var s = Prepare();
        var vm100 = KeysBelow(s, s.Keys.ContentDirPrefix("vm/100"));
        var vm1000 = KeysBelow(s, s.Keys.ContentDirPrefix("vm/1000"));
        var result = MovePlan.ForGroup(s.Datastore.Group(BackupNamespace.Root, BackupType.Vm, "100"), BackupNamespace.Parse("prod")).Execute();
        Assert.True(result.Complete);
        Assert.Equal(3, result.Groups.Single().MovedSnapshots);
        Assert.Empty(KeysBelow(s, s.Keys.ContentDirPrefix("vm/100")));
        Assert.Equal(vm100, KeysBelow(s, s.Keys.ContentDirPrefix("ns/prod/vm/100")));
        Assert.Equal(vm1000, KeysBelow(s, s.Keys.ContentDirPrefix("vm/1000")));
        AssertBucketMirrorsCache(s);
    }

    [Fact]
    public void Moving_a_namespace_moves_markers_and_objects_and_never_a_sibling_whose_name_starts_alike()
    {
        using var s = Prepare();
        var prod = KeysBelow(s, s.Keys.ContentDirPrefix(BackupNamespace.Parse("prod").RelativePath));
        var prod2 = KeysBelow(s, s.Keys.ContentDirPrefix(BackupNamespace.Parse("prod2").RelativePath));
        var result = MovePlan.ForNamespace(s.Datastore, BackupNamespace.Parse("prod"), BackupNamespace.Parse("moved")).Execute();
        Assert.True(result.Complete);
        Assert.Equal(["prod/db", "prod"], result.RemovedNamespaces.Select(n => n.Name));
        Assert.Empty(KeysBelow(s, s.Keys.ContentDirPrefix(BackupNamespace.Parse("prod").RelativePath)));
        // Markers included: the new namespaces got theirs, the removed ones lost theirs.
        Assert.Equal(prod, KeysBelow(s, s.Keys.ContentDirPrefix(BackupNamespace.Parse("moved").RelativePath)));
        Assert.Equal(prod2, KeysBelow(s, s.Keys.ContentDirPrefix(BackupNamespace.Parse("prod2").RelativePath)));
        AssertBucketMirrorsCache(s);
    }

    public static TheoryData<string> MoveFaults() => ["copy", "delete"];

    /// <summary>
    /// The bucket fails half way: copies refused after the first few (the move stops inside a snapshot, with part
    /// of its objects copied), or every delete refused (the cache renamed, the source objects left behind).
    /// Nothing is lost, and running the move again completes it with the bucket mirroring the cache.
    /// </summary>
    [Theory]
    [MemberData(nameof(MoveFaults))]
    public void A_move_the_bucket_interrupts_loses_nothing_and_a_rerun_completes_it(string fault)
    {
        using var s = Prepare();
        var source = BackupNamespace.Parse("prod");
        var target = BackupNamespace.Parse("moved");
        var before = s.Datastore.ListNamespaces(source).SelectMany(ns => s.Datastore.ListGroups(ns))
            .SelectMany(g => g.ListSnapshots()).Select(x => x.RelativePath["ns/prod/".Length..]).Order(StringComparer.Ordinal).ToList();
        var copies = 0;
        Func<HttpRequestMessage, bool> match = fault == "copy"
            ? r => r.Headers.Contains("x-amz-copy-source") && ++copies > 5
            : FaultInjectingHandler.IsDeleteObjects;
        using (var broken = WithFaults(s, t => new FaultInjectingHandler(t).Inject(match, S3Fault.InternalError, times: 1000), out var faults))
        {
            var result = MovePlan.ForNamespace(broken, source, target).Execute(new RecordingTaskState());
            Assert.False(result.Complete);
            Assert.True(faults.Injected > 0);
        }
        // Every snapshot is in the cache at one of the two places, and each finished one has its objects there.
        var after = new List<string>();
        foreach (var ns in new[] { source, target }.Where(s.Datastore.NamespaceExists))
            foreach (var snapshot in s.Datastore.ListNamespaces(ns).SelectMany(n => s.Datastore.ListGroups(n)).SelectMany(g => g.ListSnapshots()))
            {
                after.Add(snapshot.RelativePath[(s.Datastore.NamespacePath(ns).Length - s.Copy.StorePath.Length)..]);
                if (!snapshot.IsFinished) continue;
                foreach (var file in Directory.EnumerateFiles(snapshot.FullPath).Select(Path.GetFileName).Where(f => !f!.StartsWith('.')))
                    Assert.Equal(File.ReadAllBytes(Path.Combine(snapshot.FullPath, file!)), s.Client.GetObject(s.Keys.Content($"{snapshot.RelativePath}/{file}")));
            }
        Assert.Equal(before, after.Order(StringComparer.Ordinal));

        var rerun = MovePlan.ForNamespace(s.Datastore, source, target).Execute(new RecordingTaskState());
        Assert.True(rerun.Complete);
        Assert.False(s.Datastore.NamespaceExists(source));
        Assert.Empty(KeysBelow(s, s.Keys.ContentDirPrefix(source.RelativePath)));
        AssertBucketMirrorsCache(s);
    }
}
