using System.Management.Automation;
using PbsDatastore.Completion;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Infrastructure;
using PbsDatastore.Objects;

namespace PbsDatastore.Cmdlets;

/// <summary>Snapshots of the selected groups, oldest first per group, finished or not.</summary>
[Cmdlet(VerbsCommon.Get, "PbsSnapshot")]
[OutputType(typeof(SnapshotInfo))]
public sealed class GetPbsSnapshot : GroupFilterCmdlet
{
    [Parameter(Position = 3, ValueFromPipelineByPropertyName = true)]
    [BackupTimeTransformation]
    [ArgumentCompleter(typeof(BackupTimeCompleter))]
    [Alias("Time")]
    public string? BackupTime { get; set; }

    /// <summary>Only the newest snapshot of each group.</summary>
    [Parameter]
    public SwitchParameter Latest { get; set; }

    protected override void ProcessRecord()
    {
        TryInvoke(BackupId ?? Namespace, () =>
        {
            var ns = Selection.Namespace(Datastore, Namespace);
            foreach (var group in Selection.Groups(Datastore, ns, BackupType, BackupId))
                TryInvoke(group.ToString(), () => WriteSnapshots(group));
        });
    }

    private void WriteSnapshots(BackupGroup group)
    {
        IEnumerable<BackupSnapshot> snapshots = BackupTime is null
            ? group.ListSnapshots(e => WriteError(ErrorRecords.From(e)))
            : [Selection.Snapshot(group, BackupTime)];
        if (Latest) snapshots = snapshots.TakeLast(1);
        var owner = group.ReadOwner()?.ToString();
        foreach (var snapshot in snapshots)
            TryInvoke(snapshot.ToString(), () => WriteObject(Readers.Snapshot(snapshot, owner, e => WriteError(ErrorRecords.From(e)))));
    }
}
