using System.Management.Automation;
using PbsDatastore.Core;
using PbsDatastore.Completion;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Infrastructure;

namespace PbsDatastore.Cmdlets;

/// <summary>
/// Removes a namespace as PBS does (rmdir only, deepest first). Without -Recurse only empty namespaces go;
/// -Recurse removes every group below first (PBS's delete-groups); -GroupsOnly removes the groups of this one
/// level and keeps the namespace.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "PbsNamespace", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = "Namespace")]
[OutputType(typeof(NamespaceRemovalResult))]
public sealed class RemovePbsNamespace : PbsCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [DatastoreTransformation, AllowNull]
    [ArgumentCompleter(typeof(DatastoreNameCompleter))]
    public Datastore Datastore { get => BoundDatastore; set => BoundDatastore = value; }

    /// <summary>The namespace: a name (`a/b`) or a Get-PbsNamespace object's BackupNamespace.</summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [Alias("Namespace")]
    [NamespaceTransformation]
    public BackupNamespace BackupNamespace { get; set; } = null!;

    /// <summary>Also remove every group (and snapshot) in the namespace and below.</summary>
    [Parameter(ParameterSetName = "Namespace")]
    public SwitchParameter Recurse { get; set; }

    /// <summary>Remove only the groups of this namespace level; the namespace itself stays.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Groups")]
    public SwitchParameter GroupsOnly { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var ns = BackupNamespace;
        var target = $"{Datastore.Name}:{(ns.IsRoot ? "(root)" : ns.Name)}";
        var action = GroupsOnly ? "Remove all groups of namespace" : Recurse ? "Remove namespace with all groups below it" : EmptyAction(ns);
        if (!ShouldProcess(target, action)) return;
        TryInvoke(target, () =>
        {
            var result = RunTask(state => GroupsOnly ? Datastore.RemoveNamespaceGroups(ns, state) : Datastore.RemoveNamespace(ns, Recurse, state));
            if (!result.Complete)
                WriteError(ErrorRecords.From(new PbsException("NamespacePartiallyDeleted", PbsErrorKind.InvalidOperation,
                    Recurse || GroupsOnly
                        ? $"namespace {target}: group only partially deleted due to protected snapshots"
                        : $"namespace {target}: only partially deleted due to existing groups (use -Recurse to remove them)",
                    target)));
            if (PassThru) WriteObject(result);
        });
    }

    /// <summary>Without -Recurse the groups stay (PBS removes only empty namespaces): -WhatIf must say so.</summary>
    private string EmptyAction(BackupNamespace ns)
    {
        var groups = 0;
        TryInvoke(ns.Name, () => groups = Datastore.ListNamespaces(ns, null, _ => { }).Sum(n => Datastore.ListGroups(n).Count()));
        return groups == 0
            ? "Remove empty namespace"
            : $"Remove the empty namespaces only: {groups} group(s) in it or below stay, and so does every namespace holding them (-Recurse removes them)";
    }
}
