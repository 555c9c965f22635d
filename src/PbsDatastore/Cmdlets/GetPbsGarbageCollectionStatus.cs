using System.Management.Automation;
using PbsDatastore.Completion;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Infrastructure;

namespace PbsDatastore.Cmdlets;

/// <summary>Reads the status of a datastore's last successful garbage collection (<c>.gc-status</c>).</summary>
[Cmdlet(VerbsCommon.Get, "PbsGarbageCollectionStatus")]
[OutputType(typeof(GarbageCollectionStatus))]
public sealed class GetPbsGarbageCollectionStatus : PbsCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [DatastoreTransformation]
    [ArgumentCompleter(typeof(DatastoreNameCompleter))]
    public Datastore Datastore { get; set; } = null!;

    protected override void ProcessRecord()
        => TryInvoke(Datastore, () =>
        {
            var status = PSObject.AsPSObject(GarbageCollectionStatus.Read(Datastore.Path));
            status.Properties.Add(new PSNoteProperty("Datastore", Datastore.Name));
            WriteObject(status);
        });
}
