using System.Management.Automation;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Infrastructure;
using PbsDatastore.Objects;

namespace PbsDatastore.Cmdlets;

/// <summary>Sets a group's notes (the `notes` file, replaced atomically); `$null` removes them.</summary>
[Cmdlet(VerbsCommon.Set, "PbsBackupGroup", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(BackupGroupInfo))]
public sealed class SetPbsBackupGroup : PbsCmdlet
{
    [Parameter(Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [IdentityTransformation(typeof(BackupGroup))]
    public BackupGroup BackupGroup { get; set => field = Hold(value); } = null!;

    [Parameter(Mandatory = true)]
    [AllowNull, AllowEmptyString]
    public string? Notes { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var g = BackupGroup;
        if (!ShouldProcess(g.FullPath, Notes is null ? "Remove group notes" : "Set group notes")) return;
        if (TryInvoke(g.FullPath, () => g.SetNotes(Notes)) && PassThru)
            TryInvoke(g.FullPath, () => WriteObject(Readers.Group(g, e => WriteError(ErrorRecords.From(e, g.ToString())))));
    }
}
