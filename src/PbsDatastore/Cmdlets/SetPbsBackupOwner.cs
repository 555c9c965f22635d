using System.Management.Automation;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Infrastructure;
using PbsDatastore.Objects;

namespace PbsDatastore.Cmdlets;

/// <summary>Changes a group's owner (`owner` file, rewritten in place as PBS does; group lock on PBS ≥ 3.3.5).</summary>
[Cmdlet(VerbsCommon.Set, "PbsBackupOwner", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(BackupGroupInfo))]
public sealed class SetPbsBackupOwner : PbsCmdlet
{
    [Parameter(Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [IdentityTransformation(typeof(BackupGroup))]
    public BackupGroup BackupGroup { get; set => field = Hold(value); } = null!;

    /// <summary>New owner Auth-ID: `user@realm` or `user@realm!token`.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    public string Owner { get; set; } = "";

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var g = BackupGroup;
        TryInvoke(Owner, () =>
        {
            var owner = Authid.Parse(Owner);
            if (!ShouldProcess(g.FullPath, $"Set owner to {owner}")) return;
            g.SetOwner(owner);
            if (PassThru) WriteObject(Readers.Group(g, e => WriteError(ErrorRecords.From(e, g.ToString()))));
        });
    }
}
