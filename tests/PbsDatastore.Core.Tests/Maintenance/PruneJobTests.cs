using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Locking;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Maintenance;

/// <summary>Prune of real groups: PBS's marks oldest first, locked removal, PBS's warning when removal fails.</summary>
public class PruneJobTests
{
    // Lock files go to the test run's private run root (TestEnvironment); changing that process-wide variable
    // here would move other test classes' locks while they run.

    [Fact]
    public void PlansOldestFirstAndRemovesWhatItDoesNotKeep()
    {
        using var copy = SparseStoreCopy.Create();
        var store = Datastore.Open(copy.StorePath, "store1");
        var group = store.Group(BackupNamespace.Root, BackupType.Ct, "200");

        var plan = PruneJob.PlanGroup(group, new PruneOptions { KeepLast = 1 }, TimeZoneInfo.Utc);
        Assert.Equal(["ct/200/2024-03-01T12:00:00Z", "ct/200/2024-03-02T12:00:00Z", "ct/200/2024-03-08T12:00:00Z"], plan.Select(p => p.Snapshot));
        Assert.Equal(["remove", "keep", "protected"], plan.Select(p => p.Mark));
        Assert.Equal([null, "keep-last", null], plan.Select(p => p.KeptBy));

        var task = new RecordingTaskState();
        var removed = PruneJob.Remove(plan[0], task);
        Assert.True(removed.Removed);
        Assert.False(plan[0].BackupSnapshot.Exists);
        Assert.Empty(task.Warnings);
        Assert.Throws<PbsException>(() => PruneJob.Remove(plan[1], task));
    }

    [Fact]
    public void LockedSnapshotIsWarnedAboutAndKept()
    {
        using var copy = SparseStoreCopy.Create();
        var store = Datastore.Open(copy.StorePath, "store1");
        var group = store.Group(BackupNamespace.Root, BackupType.Vm, "100");
        var plan = PruneJob.PlanGroup(group, new PruneOptions { KeepLast = 2 }, TimeZoneInfo.Utc);
        var victim = plan.Single(p => !p.Keep);

        var task = new RecordingTaskState();
        PruneResult result;
        using (BackupLocks.LockSnapshot(victim.BackupSnapshot, exclusive: false))
            result = PruneJob.Remove(victim, task);

        Assert.False(result.Removed);
        Assert.True(victim.BackupSnapshot.Exists);
        Assert.StartsWith($"failed to remove dir \"{victim.BackupSnapshot.RelativePath}\": ", Assert.Single(task.Warnings));
        Assert.Equal(task.Warnings[0], result.Error);
    }

    [Fact]
    public void NoKeepOptionKeepsEverything()
    {
        using var copy = SparseStoreCopy.Create();
        var store = Datastore.Open(copy.StorePath, "store1");
        var plan = PruneJob.PlanGroup(store.Group(BackupNamespace.Root, BackupType.Vm, "100"), new PruneOptions(), TimeZoneInfo.Utc);
        Assert.All(plan, p => Assert.True(p.Keep));
        Assert.Equal("--ns prod --max-depth 0 --keep-daily 3", PruneJob.RetentionText(new PruneOptions { KeepDaily = 3 }, BackupNamespace.Parse("prod"), 0));
    }
}
