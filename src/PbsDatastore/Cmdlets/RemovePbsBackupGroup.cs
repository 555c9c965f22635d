using System.Management.Automation;
using PbsDatastore.Core;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Infrastructure;

namespace PbsDatastore.Cmdlets;

/// <summary>
/// Removes backup groups as PBS does: exclusive group lock, each unprotected snapshot under its own locks; a
/// group with protected snapshots keeps them (and its directory, owner and notes) and is reported as an error.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "PbsBackupGroup", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(GroupRemovalResult))]
public sealed class RemovePbsBackupGroup : PbsCmdlet
{
    /// <summary>The group (a Get-PbsBackupGroup object binds through its BackupGroup property).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [IdentityTransformation(typeof(BackupGroup))]
    public BackupGroup BackupGroup { get; set => field = Hold(value); } = null!;

    /// <summary>Write the removal result (counts of removed and protected snapshots).</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var g = BackupGroup;
        if (!ShouldProcess(g.FullPath, "Remove backup group and all its snapshots")) return;
        TryInvoke(g.FullPath, () =>
        {
            var result = RunTask(state => g.Destroy(state));
            if (result.ProtectedSnapshots > 0)
                WriteError(ErrorRecords.From(new PbsException("GroupPartiallyDeleted", PbsErrorKind.InvalidOperation,
                    $"group {g} only partially deleted due to protected snapshots ({result.ProtectedSnapshots} kept)", g.FullPath)));
            if (PassThru) WriteObject(result);
        });
    }
}
