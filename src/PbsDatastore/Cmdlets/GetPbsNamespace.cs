using System.Management.Automation;
using PbsDatastore.Completion;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Infrastructure;
using PbsDatastore.Objects;

namespace PbsDatastore.Cmdlets;

/// <summary>A namespace and its children (PBS's namespace listing: the start first, depth-first by name).</summary>
[Cmdlet(VerbsCommon.Get, "PbsNamespace")]
[OutputType(typeof(NamespaceInfo))]
public sealed class GetPbsNamespace : PbsCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [DatastoreTransformation, AllowNull]
    [ArgumentCompleter(typeof(DatastoreNameCompleter))]
    public Datastore Datastore { get => BoundDatastore; set => BoundDatastore = value; }

    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(NamespaceCompleter))]
    [AllowEmptyString]
    public string Namespace { get; set; } = "";

    /// <summary>All descendants instead of the direct children only.</summary>
    [Parameter]
    public SwitchParameter Recurse { get; set; }

    /// <summary>Namespace levels below -Namespace to list (0: only it); -Depth is its earlier name.</summary>
    [Parameter]
    [ValidateRange(0, 7)]
    [Alias("Depth")]
    public int? MaxDepth { get; set; }

    protected override void ProcessRecord()
    {
        TryInvoke(Namespace, () =>
        {
            var start = Selection.Namespace(Datastore, Namespace);
            var depth = MaxDepth ?? (Recurse ? null : 1);
            foreach (var ns in Datastore.ListNamespaces(start, depth, e => WriteError(ErrorRecords.From(e))))
                WriteObject(new NamespaceInfo(Datastore, ns));
        });
    }
}
