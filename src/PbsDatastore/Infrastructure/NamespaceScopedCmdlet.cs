using System.Management.Automation;
using PbsDatastore.Completion;
using PbsDatastore.Core.Hierarchy;

namespace PbsDatastore.Infrastructure;

/// <summary>
/// Cmdlets that address groups or snapshots inside one namespace of a datastore: the datastore (object, name or
/// path) and the namespace, both bindable from the pipeline by property name (as Get-PbsNamespace emits them).
/// </summary>
public abstract class NamespaceScopedCmdlet : PbsCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [DatastoreTransformation, AllowNull]
    [ArgumentCompleter(typeof(DatastoreNameCompleter))]
    public Datastore Datastore { get => BoundDatastore; set => BoundDatastore = value; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(NamespaceCompleter))]
    [AllowEmptyString]
    public string Namespace { get; set; } = "";
}
