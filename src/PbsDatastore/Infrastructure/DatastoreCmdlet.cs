using System.Management.Automation;
using PbsDatastore.Completion;
using PbsDatastore.Core.Hierarchy;

namespace PbsDatastore.Infrastructure;

/// <summary>
/// Cmdlets that act on whole datastores: each one given as an object (pipeline), a configured name or a path
/// (first position), with datastore names tab-completed.
/// </summary>
public abstract class DatastoreCmdlet : PbsCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [DatastoreTransformation, AllowNull]
    [ArgumentCompleter(typeof(DatastoreNameCompleter))]
    public Datastore Datastore { get => BoundDatastore; set => BoundDatastore = value; }
}
