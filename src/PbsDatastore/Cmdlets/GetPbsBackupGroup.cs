using System.Management.Automation;
using PbsDatastore.Completion;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Infrastructure;
using PbsDatastore.Objects;

namespace PbsDatastore.Cmdlets;

/// <summary>Backup groups of a namespace with owner, notes, snapshot count and last successful backup.</summary>
[Cmdlet(VerbsCommon.Get, "PbsBackupGroup")]
[OutputType(typeof(BackupGroupInfo))]
public sealed class GetPbsBackupGroup : PbsCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [DatastoreTransformation]
    [ArgumentCompleter(typeof(DatastoreNameCompleter))]
    public Datastore Datastore { get; set; } = null!;

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(NamespaceCompleter))]
    [AllowEmptyString]
    public string Namespace { get; set; } = "";

    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateSet("ct", "host", "vm")]
    [Alias("Type")]
    public string? BackupType { get; set; }

    [Parameter(Position = 2, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(BackupIdCompleter))]
    [SupportsWildcards]
    [Alias("Id")]
    public string? BackupId { get; set; }

    protected override void ProcessRecord()
    {
        TryInvoke(BackupId ?? Namespace, () =>
        {
            var ns = Selection.Namespace(Datastore, Namespace);
            foreach (var group in Selection.Groups(Datastore, ns, BackupType, BackupId))
                TryInvoke(group.ToString(), () => WriteObject(Readers.Group(group)));
        });
    }
}
