using System.Management.Automation;
using PbsDatastore.Completion;
using PbsDatastore.Core;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Infrastructure;

namespace PbsDatastore.Cmdlets;

/// <summary>
/// Verifies every snapshot of a datastore or namespace subtree as PBS's datastore verify does: groups in PBS's
/// order, snapshots newest first, one result per snapshot.
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "PbsDatastore", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(SnapshotVerifyResult))]
public sealed class TestPbsDatastoreCommand : VerifyCmdlet
{
    /// <summary>A datastore object, configured name or path.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [DatastoreTransformation, AllowNull]
    [ArgumentCompleter(typeof(DatastoreNameCompleter))]
    public Datastore Datastore { get => BoundDatastore; set => BoundDatastore = value; }

    [Parameter]
    [AllowEmptyString]
    public string Namespace { get; set; } = "";

    /// <summary>Namespace levels below -Namespace (0: only it; default: all).</summary>
    [Parameter, ValidateRange(0, 7)]
    public int? MaxDepth { get; set; }

    protected override void ProcessRecord()
    {
        TryInvoke(Datastore.Name, () =>
        {
            var ns = BackupNamespace.Parse(Namespace);
            var workerId = ns.IsRoot ? Datastore.Name : $"{Datastore.Name}:{ns.Name}";
            if (!TryGetJob(Datastore, workerId, () => Upid.Create("verify", workerId, AuthId), out var job))
                return;
            var groups = Datastore.ListNamespaces(ns, MaxDepth, e => WriteError(ErrorRecords.From(e)))
                .SelectMany(n => Datastore.ListGroups(n)).ToList();
            StreamTask(task => job.VerifyByGroup(groups, task), WriteResults);
        });
    }
}
