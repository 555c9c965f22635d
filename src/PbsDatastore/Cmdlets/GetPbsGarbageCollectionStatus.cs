using System.Management.Automation;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Infrastructure;

namespace PbsDatastore.Cmdlets;

/// <summary>Reads the status of a datastore's last successful garbage collection (<c>.gc-status</c>).</summary>
[Cmdlet(VerbsCommon.Get, "PbsGarbageCollectionStatus")]
[OutputType(typeof(GarbageCollectionStatus))]
public sealed class GetPbsGarbageCollectionStatus : DatastoreCmdlet
{
    protected override void ProcessRecord()
        => TryInvoke(Datastore, () =>
        {
            var status = PSObject.AsPSObject(GarbageCollectionStatus.Read(Datastore));
            status.Properties.Add(new PSNoteProperty("Datastore", Datastore.Name));
            WriteObject(status);
        });
}
