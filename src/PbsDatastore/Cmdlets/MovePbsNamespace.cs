using System.Management.Automation;
using PbsDatastore.Completion;
using PbsDatastore.Core;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Infrastructure;

namespace PbsDatastore.Cmdlets;

/// <summary>
/// Moves a namespace with everything below it to a new name in the same datastore as PBS ≥ 4.1.9 does: target
/// namespaces created parent first, every group moved (busy ones retried once), emptied source namespaces removed
/// deepest first unless -KeepSource. Groups that could not move are reported in one error.
/// </summary>
[Cmdlet(VerbsCommon.Move, "PbsNamespace", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(GroupMoveResult))]
public sealed class MovePbsNamespace : NamespaceScopedCmdlet
{
    /// <summary>The namespace's new name (its parent must exist; an existing namespace there is merged into).</summary>
    [Parameter(Mandatory = true)]
    [ArgumentCompleter(typeof(NamespaceCompleter))]
    public string TargetNamespace { get; set; } = null!;

    /// <summary>Keep the emptied source namespaces (PBS's delete-source=false).</summary>
    [Parameter]
    public SwitchParameter KeepSource { get; set; }

    /// <summary>Refuse to merge into existing target groups (PBS's merge-groups=false).</summary>
    [Parameter]
    public SwitchParameter NoMerge { get; set; }

    /// <summary>Write one result per group.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var target = $"{Datastore.Name}:{Namespace}";
        TryInvoke(target, () =>
        {
            var plan = MovePlan.ForNamespace(Datastore, BackupNamespace.Parse(Namespace), BackupNamespace.Parse(TargetNamespace),
                deleteSource: !KeepSource, allowMerge: !NoMerge);
            var confirmed = plan.Groups.Where(g => ShouldProcess(g.Source.FullPath, g.Description)).ToList();
            var removal = KeepSource ? "" : $" and remove '{Namespace}' once emptied";
            if (!ShouldProcess(target, $"Move namespace to '{TargetNamespace}' ({confirmed.Count} of {plan.Groups.Count} groups){removal}")) return;
            var result = RunTask(state => plan.WithGroups(confirmed).Execute(state));
            MoveResults.Write(this, result, PassThru);
            if (!result.Complete)
                WriteError(ErrorRecords.From(new PbsException("NamespacePartiallyMoved", PbsErrorKind.InvalidOperation,
                    $"namespace {target} only partially moved; left behind: {string.Join(", ", result.LeftBehind)}", target)));
        });
    }
}
