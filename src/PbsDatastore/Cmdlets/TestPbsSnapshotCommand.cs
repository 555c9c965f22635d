using System.Management.Automation;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Infrastructure;

namespace PbsDatastore.Cmdlets;

/// <summary>
/// Verifies snapshots as PBS does (Get-PbsSnapshot output binds by its BackupSnapshot property), or whole groups
/// newest first (Get-PbsBackupGroup output). All snapshots of one pipeline share PBS's verified/corrupt chunk sets.
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "PbsSnapshot", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low,
    DefaultParameterSetName = SnapshotSet)]
[OutputType(typeof(SnapshotVerifyResult))]
public sealed class TestPbsSnapshotCommand : VerifyCmdlet
{
    private const string SnapshotSet = "Snapshot";
    private const string GroupSet = "Group";

    [Parameter(Mandatory = true, ParameterSetName = SnapshotSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [IdentityTransformation(typeof(BackupSnapshot))]
    public BackupSnapshot[] BackupSnapshot { get; set => field = Hold(value); } = [];

    [Parameter(Mandatory = true, ParameterSetName = GroupSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [IdentityTransformation(typeof(BackupGroup))]
    public BackupGroup[] BackupGroup { get; set => field = Hold(value); } = [];

    protected override void ProcessRecord()
    {
        foreach (var snapshot in BackupSnapshot)
            TryInvoke(snapshot.ToString(), () =>
            {
                if (TryGetJob(snapshot.Datastore, snapshot.ToString(), () => VerifyJob.SnapshotUpid(snapshot, AuthId), out var job))
                    VerifyAndWrite(job, snapshot);
            });

        foreach (var group in BackupGroup)
            TryInvoke(group.ToString(), () =>
            {
                if (TryGetJob(group.Datastore, group.ToString(), () => VerifyJob.GroupUpid(group, AuthId), out var job))
                    WriteResults(RunTask(task => job.VerifyGroup(group, task)));
            });
    }
}
