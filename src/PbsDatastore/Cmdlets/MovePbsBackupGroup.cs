using System.Management.Automation;
using PbsDatastore.Completion;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Infrastructure;

namespace PbsDatastore.Cmdlets;

/// <summary>
/// Moves backup groups to another namespace of the same datastore as PBS ≥ 4.1.9 does (snapshots renamed under
/// the group and snapshot locks, each journaled first; an existing target group is merged when the owners match
/// and all its snapshots are older). Groups are addressed like Get-PbsBackupGroup, or piped from it.
/// </summary>
[Cmdlet(VerbsCommon.Move, "PbsBackupGroup", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(GroupMoveResult))]
public sealed class MovePbsBackupGroup : GroupFilterCmdlet
{
    /// <summary>The namespace the groups go to; created when only its parent exists.</summary>
    [Parameter(Mandatory = true)]
    [ArgumentCompleter(typeof(NamespaceCompleter))]
    [AllowEmptyString]
    public string TargetNamespace { get; set; } = null!;

    /// <summary>Refuse to merge into an existing target group (PBS's merge-groups=false).</summary>
    [Parameter]
    public SwitchParameter NoMerge { get; set; }

    /// <summary>Write one result per group.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        TryInvoke(Datastore.Name, () =>
        {
            var target = BackupNamespace.Parse(TargetNamespace);
            var ns = Selection.Namespace(Datastore, Namespace);
            foreach (var group in Selection.Groups(Datastore, ns, BackupType, BackupId).ToList())
                TryInvoke(group.FullPath, () => Move(group, target));
        });
    }

    private void Move(BackupGroup group, BackupNamespace target)
    {
        var plan = MovePlan.ForGroup(group, target, allowMerge: !NoMerge);
        if (!ShouldProcess(group.FullPath, plan.Groups[0].Description)) return;
        MoveResults.Write(this, RunTask(state => plan.Execute(state)), PassThru);
    }
}
