using System.Management.Automation;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Infrastructure;
using PbsDatastore.Objects;

namespace PbsDatastore.Cmdlets;

/// <summary>Removes snapshots as PBS's forget does: exclusive snapshot lock, manifest lock, refusal of protected ones.</summary>
[Cmdlet(VerbsCommon.Remove, "PbsSnapshot", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(SnapshotInfo))]
public sealed class RemovePbsSnapshot : PbsCmdlet
{
    /// <summary>The snapshot (a Get-PbsSnapshot object binds through its BackupSnapshot property).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [IdentityTransformation(typeof(BackupSnapshot))]
    public BackupSnapshot BackupSnapshot { get; set => field = Hold(value); } = null!;

    /// <summary>Skip PBS's locks (only for a snapshot whose lock this process already holds). Protection still applies.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Writes each removed snapshot as Get-PbsSnapshot showed it just before (e.g. for a removal log).</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var s = BackupSnapshot;
        if (!ShouldProcess(s.FullPath, Force ? "Remove snapshot without taking locks" : "Remove snapshot")) return;
        TryInvoke(s.FullPath, () =>
        {
            var removed = PassThru ? Readers.Snapshot(s, s.Group.ReadOwner()?.ToString(), _ => { }) : null;
            RunTask(state => s.Destroy(Force, state));
            if (removed is not null) WriteObject(removed);
        });
    }
}
