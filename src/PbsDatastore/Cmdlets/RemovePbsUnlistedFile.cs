using System.Management.Automation;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Infrastructure;

namespace PbsDatastore.Cmdlets;

/// <summary>
/// Removes files in finished snapshots that the manifest does not account for (leftover temp files of crashed
/// writers, stray files), under the exclusive snapshot lock. The manifest, client log and `.protected` stay.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "PbsUnlistedFile", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(string))]
public sealed class RemovePbsUnlistedFile : PbsCmdlet
{
    [Parameter(Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [IdentityTransformation(typeof(BackupSnapshot))]
    public BackupSnapshot BackupSnapshot { get; set => field = Hold(value); } = null!;

    /// <summary>Write the full path of every removed file.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var s = BackupSnapshot;
        TryInvoke(s.FullPath, () =>
        {
            var planned = s.FindUnlistedFiles();
            if (planned.Count == 0) return;
            if (!ShouldProcess(s.FullPath, $"Remove {planned.Count} unlisted file(s): {string.Join(", ", planned)}")) return;
            foreach (var name in RunTask(state => s.RemoveUnlistedFiles(state)))
                if (PassThru) WriteObject(Path.Combine(s.FullPath, name));
        });
    }
}
