using System.Management.Automation;
using PbsDatastore.Core;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Memory;
using PbsDatastore.Infrastructure;
using PbsDatastore.Objects;

namespace PbsDatastore.Cmdlets;

/// <summary>
/// Space accounting: logical, referenced, exclusive and shared bytes of datastores, namespaces (with everything
/// below them), groups or snapshots. Everything piped in is measured as one set per datastore, so the exclusive
/// bytes are what removing the whole set and running GC would free, not the sum of each item's own.
/// </summary>
[Cmdlet(VerbsDiagnostic.Measure, "PbsDatastore")]
[OutputType(typeof(SpaceUsage))]
public sealed class MeasurePbsDatastore : PbsCmdlet
{
    /// <summary>Datastores (objects, names or paths), namespaces, groups, snapshots or prune results.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    public object[] InputObject { get; set; } = [];

    /// <summary>
    /// Bytes the digest set may hold (default 256 MiB); a larger store is processed in several passes over
    /// its indexes, with the same result.
    /// </summary>
    [Parameter, ValidateRange(MinMemoryLimit, long.MaxValue)]
    public long MemoryLimit { get; set; } = DigestPartitions.DefaultMemoryLimit;

    // The sets, one per datastore path, in the order first met.
    private readonly Dictionary<string, (Datastore Store, List<AccountingMember> Members)> _sets = new(StringComparer.Ordinal);

    protected override void ProcessRecord()
    {
        foreach (var input in InputObject)
        {
            var value = input is PSObject pso ? pso.BaseObject : input;
            TryInvoke(value, () =>
            {
                // A deserialized object (jobs, remoting) is measured as what it names.
                var (store, member) = Member(Identity.IsPropertyBag(input)
                    ? Identity.Open((PSObject)input, SessionState.Path.GetUnresolvedProviderPathFromPSPath) ?? value
                    : value);
                Hold(store);
                if (!_sets.TryGetValue(store.Path, out var set))
                    _sets[store.Path] = set = (store, new List<AccountingMember>());
                if (member != null && !set.Members.Any(m => m.RelativePath == member.RelativePath))
                    set.Members.Add(member);
            });
        }
    }

    protected override void EndProcessing()
    {
        foreach (var (store, members) in _sets.Values)
        {
            TryInvoke(store.Name, () =>
            {
                // The set's store is the first of its path met; later records' stores replaced it as the held one,
                // and measuring opens it again: held once more, it is closed when the command ends.
                Hold(store);
                var usage = new PSObject(RunTask(state => SpaceAccounting.Measure(store, members, state, MemoryLimit)));
                usage.Properties.Add(new PSNoteProperty("Datastore", store.Name));
                WriteObject(usage);
            });
        }
    }

    /// <summary>
    /// The datastore and the member an input adds to its set; a prune result of a snapshot prune keeps (or has
    /// removed already) adds none, so that what prune would remove can be piped in as it is.
    /// </summary>
    private (Datastore, AccountingMember?) Member(object? value) => value switch
    {
        Datastore ds => Whole(ds),
        NamespaceInfo ns => (ns.Datastore, ns.BackupNamespace.IsRoot
            ? new AccountingMember(ns.Datastore.Name, "")
            : new AccountingMember(ns.Namespace, ns.BackupNamespace.RelativePath)),
        BackupGroupInfo g => Group(g.BackupGroup),
        BackupGroup g => Group(g),
        SnapshotInfo s => Snapshot(s.BackupSnapshot),
        BackupSnapshot s => Snapshot(s),
        PruneResult p when p.Keep || p.Removed => (p.BackupSnapshot.Datastore, null),
        PruneResult p => Snapshot(p.BackupSnapshot),
        string text => Whole(DatastoreTransformationAttribute.Resolve(text, SessionState.Path.GetUnresolvedProviderPathFromPSPath)),
        _ => throw new PbsException("InvalidMeasureInput", PbsErrorKind.InvalidArgument,
            $"cannot measure a {value?.GetType().Name ?? "null"}: give datastores, namespaces, groups or snapshots", value),
    };

    private static (Datastore, AccountingMember?) Whole(Datastore ds) => (ds, new AccountingMember(ds.Name, ""));

    private static (Datastore, AccountingMember?) Group(BackupGroup g) => (g.Datastore, new AccountingMember(g.ToString(), g.RelativePath));

    private static (Datastore, AccountingMember?) Snapshot(BackupSnapshot s) => (s.Datastore, new AccountingMember(s.ToString(), s.RelativePath));
}
