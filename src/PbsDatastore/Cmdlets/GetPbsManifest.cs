using System.Management.Automation;
using PbsDatastore.Completion;
using PbsDatastore.Core;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Infrastructure;
using PbsDatastore.Objects;

namespace PbsDatastore.Cmdlets;

/// <summary>The manifest (index.json.blob) of finished snapshots: files, signature, key fingerprint, notes, verify state.</summary>
[Cmdlet(VerbsCommon.Get, "PbsManifest")]
[OutputType(typeof(ManifestInfo))]
public sealed class GetPbsManifest : NamespaceScopedCmdlet
{
    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateSet("ct", "host", "vm")]
    [Alias("Type")]
    public string BackupType { get; set; } = null!;

    [Parameter(Mandatory = true, Position = 2, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(BackupIdCompleter))]
    [Alias("Id")]
    public string BackupId { get; set; } = null!;

    [Parameter(Mandatory = true, Position = 3, ValueFromPipelineByPropertyName = true)]
    [BackupTimeTransformation]
    [ArgumentCompleter(typeof(BackupTimeCompleter))]
    [Alias("Time")]
    public string BackupTime { get; set; } = null!;

    protected override void ProcessRecord()
    {
        TryInvoke(BackupId, () =>
        {
            var ns = Selection.Namespace(Datastore, Namespace);
            var snapshot = Selection.Snapshot(Datastore.Group(ns, BackupTypes.Parse(BackupType), BackupId), BackupTime);
            // An unfinished snapshot has no manifest yet: from a pipeline that is expected, named directly an error.
            if (!snapshot.IsFinished && MyInvocation.ExpectingInput)
            {
                WriteVerbose($"skipping unfinished snapshot {snapshot} (no manifest)");
                return;
            }
            if (!snapshot.IsFinished)
                throw new PbsException("SnapshotUnfinished", PbsErrorKind.ObjectNotFound,
                    $"snapshot '{snapshot}' is unfinished: it has no manifest", snapshot.ToString());
            WriteObject(Readers.Manifest(snapshot));
        });
    }
}
