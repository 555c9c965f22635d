using System.Management.Automation;
using PbsDatastore.Core;
using PbsDatastore.Core.Hierarchy;

namespace PbsDatastore.Infrastructure;

/// <summary>
/// Picks groups and snapshots the way the Get-* cmdlets address them: an exact name must exist (else
/// ObjectNotFound), a wildcard or an omitted name selects whatever matches.
/// </summary>
internal static class Selection
{
    public static BackupNamespace Namespace(Datastore ds, string? name)
    {
        var ns = BackupNamespace.Parse(name ?? "");
        if (!ds.NamespaceExists(ns))
            throw new PbsException("NamespaceNotFound", PbsErrorKind.ObjectNotFound,
                $"namespace '{ns.Name}' does not exist in datastore '{ds.Name}'", ns.Name);
        return ns;
    }

    public static IEnumerable<BackupGroup> Groups(Datastore ds, BackupNamespace ns, string? type, string? id)
    {
        if (type != null && id != null && !WildcardPattern.ContainsWildcardCharacters(id))
        {
            var group = ds.Group(ns, BackupTypes.Parse(type), id);
            if (!group.Exists)
                throw new PbsException("GroupNotFound", PbsErrorKind.ObjectNotFound,
                    $"backup group '{group}' does not exist in datastore '{ds.Name}'", group.ToString());
            return [group];
        }
        var pattern = id is null ? null : Arguments.Pattern(id);
        return ds.ListGroups(ns).Where(g => (type == null || g.Type.ToPbsString() == type) && (pattern?.IsMatch(g.Id) ?? true));
    }

    public static BackupSnapshot Snapshot(BackupGroup group, string time)
    {
        var snapshot = group.Snapshot(time);
        if (!snapshot.Exists)
            throw new PbsException("SnapshotNotFound", PbsErrorKind.ObjectNotFound,
                $"snapshot '{snapshot}' does not exist in datastore '{group.Datastore.Name}'", snapshot.ToString());
        return snapshot;
    }
}
