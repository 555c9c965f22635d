using System.Management.Automation;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Infrastructure;
using PbsDatastore.Objects;

namespace PbsDatastore.Cmdlets;

/// <summary>
/// Sets a snapshot's protection (`.protected`, under the exclusive snapshot lock) and/or its notes (manifest
/// `unprotected.notes`, under the manifest lock; `$null` removes them).
/// </summary>
[Cmdlet(VerbsCommon.Set, "PbsSnapshot", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(SnapshotInfo))]
public sealed class SetPbsSnapshot : PbsCmdlet
{
    [Parameter(Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [IdentityTransformation(typeof(BackupSnapshot))]
    public BackupSnapshot BackupSnapshot { get; set => field = Hold(value); } = null!;

    [Parameter]
    public bool Protected { get; set; }

    [Parameter]
    [AllowNull, AllowEmptyString]
    public string? Notes { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var s = BackupSnapshot;
        var ok = true;
        if (MyInvocation.BoundParameters.ContainsKey(nameof(Protected))
            && ShouldProcess(s.FullPath, Protected ? "Protect snapshot" : "Remove snapshot protection"))
            ok = TryInvoke(s.FullPath, () => s.SetProtected(Protected));
        if (ok && MyInvocation.BoundParameters.ContainsKey(nameof(Notes))
            && ShouldProcess(s.FullPath, Notes is null ? "Remove snapshot notes" : "Set snapshot notes"))
            ok = TryInvoke(s.FullPath, () => s.SetNotes(Notes));
        if (ok && PassThru)
            TryInvoke(s.FullPath, () => WriteObject(Readers.Snapshot(s, s.Group.ReadOwner()?.ToString(), e => WriteError(ErrorRecords.From(e)))));
    }
}
