using System.Management.Automation;
using PbsDatastore.Completion;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Infrastructure;
using PbsDatastore.Objects;

namespace PbsDatastore.Cmdlets;

/// <summary>Creates a namespace below an existing parent (PBS's rules: component ≤ 32 characters, depth ≤ 7).</summary>
[Cmdlet(VerbsCommon.New, "PbsNamespace", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(NamespaceInfo))]
public sealed class NewPbsNamespace : PbsCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [DatastoreTransformation, AllowNull]
    [ArgumentCompleter(typeof(DatastoreNameCompleter))]
    public Datastore Datastore { get => BoundDatastore; set => BoundDatastore = value; }

    /// <summary>Full name of the new namespace, e.g. `prod/db/archive`.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [Alias("Name")]
    public string Namespace { get; set; } = "";

    protected override void ProcessRecord()
    {
        TryInvoke(Namespace, () =>
        {
            var ns = BackupNamespace.Parse(Namespace);
            if (!ShouldProcess($"{Datastore.Name}:{ns.Name}", "Create namespace")) return;
            WriteObject(new NamespaceInfo(Datastore, Datastore.CreateNamespace(ns)));
        });
    }
}
