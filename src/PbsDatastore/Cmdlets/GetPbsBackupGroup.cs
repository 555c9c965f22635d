using System.Management.Automation;
using PbsDatastore.Infrastructure;
using PbsDatastore.Objects;

namespace PbsDatastore.Cmdlets;

/// <summary>Backup groups of a namespace with owner, notes, snapshot count and last successful backup.</summary>
[Cmdlet(VerbsCommon.Get, "PbsBackupGroup")]
[OutputType(typeof(BackupGroupInfo))]
public sealed class GetPbsBackupGroup : GroupFilterCmdlet
{
    protected override void ProcessRecord()
    {
        TryInvoke(BackupId ?? Namespace, () =>
        {
            var ns = Selection.Namespace(Datastore, Namespace);
            foreach (var group in Selection.Groups(Datastore, ns, BackupType, BackupId))
                TryInvoke(group.ToString(), () => WriteObject(Readers.Group(group, e => WriteError(ErrorRecords.From(e, group.ToString())))));
        });
    }
}
