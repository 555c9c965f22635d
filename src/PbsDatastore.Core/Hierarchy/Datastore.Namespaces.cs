using PbsDatastore.Core.Native;

namespace PbsDatastore.Core.Hierarchy;

/// <summary>Outcome of a namespace removal; <see cref="Complete"/> false when something had to stay.</summary>
public sealed record NamespaceRemovalResult(BackupNamespace Namespace, IReadOnlyList<GroupRemovalResult> Groups, bool Complete)
{
    public int ProtectedSnapshots => Groups.Sum(g => g.ProtectedSnapshots);
}

/// <summary>Namespace creation and removal (pbs-datastore §1.5, §10.3). PBS takes no namespace-level lock.</summary>
public sealed partial class Datastore
{
    /// <summary>
    /// Creates a namespace below an existing parent, as PBS's API does (component at most 32 characters; the
    /// root cannot be created). Returns the new namespace.
    /// </summary>
    public BackupNamespace CreateNamespace(BackupNamespace ns)
    {
        CheckOperation(DatastoreOperation.Write);
        if (ns.IsRoot) throw RootError("create");
        var name = ns.Components[^1];
        if (name.Length > PbsNames.MaxNamespaceComponentLength)
            throw new PbsException("InvalidNamespace", PbsErrorKind.InvalidArgument,
                $"namespace component '{name}' is longer than {PbsNames.MaxNamespaceComponentLength} characters", ns.Name);
        var parent = ns.Parent!;
        if (!NamespaceExists(parent))
            throw new PbsException("NamespaceNotFound", PbsErrorKind.ObjectNotFound,
                $"cannot create new namespace, parent {(parent.IsRoot ? "root" : parent.Name)} doesn't already exists", parent.Name);
        if (NamespaceExists(ns))
            throw new PbsException("NamespaceExists", PbsErrorKind.ResourceExists, $"namespace '{ns.Name}' already exists", ns.Name);
        // On S3 the `.namespace` marker object goes first (an S3 refresh recreates the namespace from it).
        S3Mirror?.UploadContent(NamespaceMarker(ns), []);
        BackupGroup.CreateDirectory(System.IO.Path.Combine(NamespacePath(parent), "ns"));
        BackupGroup.CreateDirectory(NamespacePath(ns));
        return ns;
    }

    /// <summary>
    /// PBS's `remove_namespace_recursive`: with <paramref name="deleteGroups"/>, destroy every group of every
    /// namespace in the subtree (errors abort) and rmdir the type directories; then rmdir the namespaces deepest
    /// first. Only rmdir is used, so a namespace that still holds anything (protected snapshots, groups when
    /// groups are kept, foreign files) stays and the result is not complete.
    /// </summary>
    public NamespaceRemovalResult RemoveNamespace(BackupNamespace ns, bool deleteGroups, ITaskState? state = null)
    {
        CheckOperation(DatastoreOperation.Write);
        if (ns.IsRoot) throw RootError("delete");
        if (!NamespaceExists(ns))
            throw new PbsException("NamespaceNotFound", PbsErrorKind.ObjectNotFound,
                $"namespace '{ns.Name}' does not exist in datastore '{Name}'", ns.Name);
        var subtree = ListNamespaces(ns).ToList();
        var groups = new List<GroupRemovalResult>();
        if (deleteGroups)
            foreach (var level in subtree)
                groups.AddRange(RemoveGroupsOf(level, state));

        var complete = true;
        foreach (var level in subtree.OrderByDescending(n => n.Depth))
        {
            var errno = RemoveEmptyNamespaceDirectory(level);
            if (errno is 0 or Libc.ENOENT) continue;
            complete = false;
            if (errno != Libc.ENOTEMPTY || deleteGroups)
                state?.Warn($"failed to remove namespace {level.Name} - {Libc.StrError(errno)}");
        }
        return new NamespaceRemovalResult(ns, groups, complete);
    }

    /// <summary>
    /// rmdir of a namespace directory (its `ns` subdirectory first); errno, 0 when removed. On S3 the marker object
    /// goes before the directory, and only when the directory is empty and can go too.
    /// </summary>
    internal int RemoveEmptyNamespaceDirectory(BackupNamespace level)
    {
        Libc.Rmdir(System.IO.Path.Combine(NamespacePath(level), "ns"));
        if (S3Mirror is { } s3 && FileSystemEntries.KindOf(NamespacePath(level)) == EntryKind.Directory
            && FileSystemEntries.List(NamespacePath(level)).Count == 0)
            s3.DeleteContent(NamespaceMarker(level));
        return Libc.Rmdir(NamespacePath(level)) == 0 ? 0 : Libc.LastErrno;
    }

    /// <summary>PBS's `remove_namespace_groups`: the groups and type directories of one level, nothing below.</summary>
    public NamespaceRemovalResult RemoveNamespaceGroups(BackupNamespace ns, ITaskState? state = null)
    {
        CheckOperation(DatastoreOperation.Write);
        if (!NamespaceExists(ns))
            throw new PbsException("NamespaceNotFound", PbsErrorKind.ObjectNotFound,
                $"namespace '{ns.Name}' does not exist in datastore '{Name}'", ns.Name);
        var groups = RemoveGroupsOf(ns, state);
        return new NamespaceRemovalResult(ns, groups, groups.All(g => g.GroupRemoved));
    }

    private List<GroupRemovalResult> RemoveGroupsOf(BackupNamespace ns, ITaskState? state)
    {
        var results = new List<GroupRemovalResult>();
        foreach (var group in ListGroups(ns))
        {
            state?.CheckAbort();
            results.Add(group.Destroy(state));
        }
        foreach (var type in BackupTypes.All)
        {
            var dir = System.IO.Path.Combine(NamespacePath(ns), type.ToPbsString());
            if (Libc.Rmdir(dir) != 0 && Libc.LastErrno is var errno && errno != Libc.ENOENT)
                state?.Log($"failed to remove backup type {type.ToPbsString()} in {(ns.IsRoot ? "root namespace" : ns.Name)} - {Libc.StrError(errno)}");
        }
        return results;
    }

    private static string NamespaceMarker(BackupNamespace ns) => $"{ns.RelativePath}/{Core.S3.S3Keys.NamespaceMarkerName}";

    private static PbsException RootError(string verb)
        => new("RootNamespace", PbsErrorKind.InvalidOperation, $"Cannot {verb} root namespace!", "");
}
