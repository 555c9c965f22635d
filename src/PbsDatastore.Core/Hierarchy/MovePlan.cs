using PbsDatastore.Core.Locking;

namespace PbsDatastore.Core.Hierarchy;

/// <summary>One group of a move: its snapshots (oldest first) go from <see cref="Source"/> to <see cref="Target"/>.</summary>
public sealed record GroupMove(BackupGroup Source, BackupGroup Target, IReadOnlyList<BackupSnapshot> Snapshots, bool Merge)
{
    /// <summary>What moving this group does, in words (confirmation prompts, -WhatIf).</summary>
    public string Description
        => $"Move backup group ({Snapshots.Count} snapshots) to {Target}{(Merge ? ", merging into the existing group" : "")}";

    public override string ToString() => $"{Source} -> {Target}";
}

/// <summary>
/// What a group or namespace move will do (PBS ≥ 4.1.9, addendum §5.2), computed and checked before anything
/// changes: namespaces to create (parent first), groups with their snapshots, source namespaces to remove
/// (deepest first). Everything is checked again under the locks when the plan is executed.
/// </summary>
public sealed partial class MovePlan
{
    private MovePlan(Datastore store, BackupNamespace? sourceNamespace, BackupNamespace targetNamespace, bool allowMerge,
        IReadOnlyList<BackupNamespace> create, IReadOnlyList<GroupMove> groups, IReadOnlyList<BackupNamespace> remove)
    {
        Datastore = store;
        SourceNamespace = sourceNamespace;
        TargetNamespace = targetNamespace;
        AllowMerge = allowMerge;
        NamespacesToCreate = create;
        Groups = groups;
        NamespacesToRemove = remove;
    }

    public Datastore Datastore { get; }

    /// <summary>The namespace being moved; null for a group move.</summary>
    public BackupNamespace? SourceNamespace { get; }

    /// <summary>Where the group goes, or the new name of the moved namespace.</summary>
    public BackupNamespace TargetNamespace { get; }

    /// <summary>Groups may be merged into existing ones (equal owners, target snapshots all older).</summary>
    public bool AllowMerge { get; }

    public IReadOnlyList<BackupNamespace> NamespacesToCreate { get; }

    public IReadOnlyList<GroupMove> Groups { get; }

    /// <summary>Source namespaces removed once emptied (empty unless a namespace move deletes its source).</summary>
    public IReadOnlyList<BackupNamespace> NamespacesToRemove { get; }

    public int SnapshotCount => Groups.Sum(g => g.Snapshots.Count);

    /// <summary>Plans moving <paramref name="group"/> into <paramref name="target"/> (created if only its parent exists).</summary>
    public static MovePlan ForGroup(BackupGroup group, BackupNamespace target, bool allowMerge = true)
    {
        var store = group.Datastore;
        CheckStore(store);
        if (!group.Exists)
            throw new PbsException("GroupNotFound", PbsErrorKind.ObjectNotFound, $"backup group {group} does not exist", group.FullPath);
        if (group.Namespace == target)
            throw new PbsException("MoveSameNamespace", PbsErrorKind.InvalidArgument,
                $"backup group {group} is already in namespace '{target.Name}'", group.ToString());
        RequireRealDirectories(store, store.NamespacePath(target));
        var create = new List<BackupNamespace>();
        if (!store.NamespaceExists(target))
        {
            if (!store.NamespaceExists(target.Parent!))
                throw new PbsException("NamespaceNotFound", PbsErrorKind.ObjectNotFound,
                    $"target namespace '{target.Name}' and its parent do not exist in datastore '{store.Name}'", target.Name);
            create.Add(target);
        }
        var move = PlanGroup(group, target, allowMerge);
        return new MovePlan(store, null, target, allowMerge, create, [move], []);
    }

    /// <summary>
    /// Plans moving namespace <paramref name="source"/> with everything below it to <paramref name="target"/>
    /// (its new name; the parent must exist). The root cannot move, nor into its own subtree, nor below PBS's depth
    /// limit. Missing target namespaces are created; with <paramref name="deleteSource"/> the emptied source
    /// namespaces are removed.
    /// </summary>
    public static MovePlan ForNamespace(Datastore store, BackupNamespace source, BackupNamespace target,
        bool deleteSource = true, bool allowMerge = true)
    {
        CheckStore(store);
        if (source.IsRoot || target.IsRoot)
            throw new PbsException("MoveRootNamespace", PbsErrorKind.InvalidArgument,
                "the root namespace cannot be moved, nor can a namespace become the root", source.Name);
        if (source.Contains(target))
            throw new PbsException("MoveIntoOwnSubtree", PbsErrorKind.InvalidArgument,
                $"cannot move namespace '{source.Name}' into itself or its own subtree ('{target.Name}')", target.Name);
        RequireRealDirectories(store, store.NamespacePath(source));
        RequireRealDirectories(store, store.NamespacePath(target));
        if (!store.NamespaceExists(source))
            throw new PbsException("NamespaceNotFound", PbsErrorKind.ObjectNotFound,
                $"namespace '{source.Name}' does not exist in datastore '{store.Name}'", source.Name);
        if (!store.NamespaceExists(target.Parent!))
            throw new PbsException("NamespaceNotFound", PbsErrorKind.ObjectNotFound,
                $"parent of target namespace '{target.Name}' does not exist in datastore '{store.Name}'", target.Parent!.Name);

        var subtree = store.ListNamespaces(source).ToList();
        var create = new List<BackupNamespace>();
        var groups = new List<GroupMove>();
        foreach (var ns in subtree)
        {
            var mapped = Rebase(ns, source, target);
            // Moving `a/b` to `a` would map `a/b/b` onto the source itself.
            if (source.Contains(mapped))
                throw new PbsException("MoveIntoOwnSubtree", PbsErrorKind.InvalidArgument,
                    $"cannot move namespace '{source.Name}' to '{target.Name}': '{ns.Name}' would land in the source subtree as '{mapped.Name}'", mapped.Name);
            if (!store.NamespaceExists(mapped)) create.Add(mapped);
            foreach (var group in store.ListGroups(ns))
                groups.Add(PlanGroup(group, mapped, allowMerge));
        }
        var remove = deleteSource ? subtree.OrderByDescending(n => n.Depth).ToList() : [];
        return new MovePlan(store, source, target, allowMerge, create, groups, remove);
    }

    /// <summary>The same plan restricted to <paramref name="groups"/> (e.g. those the user confirmed).</summary>
    public MovePlan WithGroups(IEnumerable<GroupMove> groups)
        => new(Datastore, SourceNamespace, TargetNamespace, AllowMerge, NamespacesToCreate, groups.ToList(), NamespacesToRemove);

    /// <summary><paramref name="ns"/> below <paramref name="from"/> re-rooted under <paramref name="to"/> (PBS's name and depth checks apply).</summary>
    private static BackupNamespace Rebase(BackupNamespace ns, BackupNamespace from, BackupNamespace to)
    {
        var result = to;
        foreach (var component in ns.Components.Skip(from.Depth))
        {
            try { result = result.Child(component); }
            catch (PbsException e)
            {
                throw new PbsException("MoveTooDeep", PbsErrorKind.InvalidArgument,
                    $"namespace '{ns.Name}' cannot move below '{to.Name}': {e.Message}", ns.Name, e);
            }
        }
        return result;
    }

    private static GroupMove PlanGroup(BackupGroup source, BackupNamespace targetNs, bool allowMerge)
    {
        var store = source.Datastore;
        RequireRealDirectories(store, source.FullPath);
        var snapshots = source.ListSnapshots().ToList();
        foreach (var s in snapshots) s.EnsureCanonicalName();
        var target = store.Group(targetNs, source.Type, source.Id);
        RequireRealDirectories(store, target.FullPath);
        var merge = FileSystemEntries.KindOf(target.FullPath) != EntryKind.Missing;
        if (merge)
        {
            if (!allowMerge)
                throw new PbsException("MoveTargetExists", PbsErrorKind.ResourceExists,
                    $"backup group {target} already exists and merging is not allowed", target.ToString());
            CheckMerge(source, source.ReadOwner(), target, snapshots);
        }
        return new GroupMove(source, target, snapshots, merge);
    }

    /// <summary>PBS's merge rules: equal owners, and every target snapshot strictly older than the oldest source snapshot.</summary>
    private static void CheckMerge(BackupGroup source, Authid? sourceOwner, BackupGroup target, IReadOnlyList<BackupSnapshot> sourceSnapshots)
    {
        var targetOwner = target.ReadOwner();
        if (sourceOwner is null || !sourceOwner.Equals(targetOwner))
            throw new PbsException("MoveOwnerMismatch", PbsErrorKind.InvalidOperation,
                $"cannot merge {source} into {target}: owners differ ({sourceOwner?.ToString() ?? "none"} != {targetOwner?.ToString() ?? "none"})",
                target.ToString());
        if (sourceSnapshots.Count == 0) return;
        var oldest = sourceSnapshots[0];
        var clash = target.ListSnapshots().LastOrDefault();
        if (clash != null && clash.Time >= oldest.Time)
            throw new PbsException("MoveMergeConflict", PbsErrorKind.InvalidOperation,
                $"cannot merge {source} into {target}: target snapshot {clash.DirectoryName} is not older than the oldest source snapshot {oldest.DirectoryName}",
                target.ToString());
    }

    private static void CheckStore(Datastore store)
    {
        // PBS ≥ 4.1.9 moves on S3 stores too: objects are copied in the bucket, then the cache renamed (§5.2).
        store.CheckOperation(DatastoreOperation.Write);
        if (store.Locking.Cleanup == GroupCleanup.KeepGroupDirectory)
            throw new PbsException("MoveRefusedOldLocking", PbsErrorKind.InvalidOperation,
                $"moving groups or namespaces is refused while PBS runs in old-locking mode ({LockScheme.SentinelPath} exists): reboot, or make sure no old backup job runs, delete the sentinel and reload all PBS daemons",
                LockScheme.SentinelPath);
    }

    /// <summary>
    /// Every existing component of <paramref name="path"/> below the datastore root must be a directory of its own,
    /// never a symlink (which could lead the move out of the datastore). Missing trailing components are fine (created later).
    /// </summary>
    internal static void RequireRealDirectories(Datastore store, string path)
    {
        var relative = Path.GetRelativePath(store.Path, path);
        if (relative == ".") return;
        if (Path.IsPathRooted(relative) || relative == ".." || relative.StartsWith("../", StringComparison.Ordinal))
            throw new PbsException("MoveUnsafePath", PbsErrorKind.SecurityError, $"\"{path}\" is outside datastore \"{store.Path}\"", path);
        var current = store.Path;
        foreach (var component in relative.Split('/'))
        {
            current = Path.Combine(current, component);
            switch (FileSystemEntries.KindOf(current))
            {
                case EntryKind.Directory: continue;
                case EntryKind.Missing: return;
                default:
                    throw new PbsException("MoveUnsafePath", PbsErrorKind.SecurityError,
                        $"\"{current}\" is not a plain directory (symlink or file); refusing to move through it", current);
            }
        }
    }

    public override string ToString()
        => SourceNamespace is null
            ? $"move {string.Join(", ", Groups)} ({SnapshotCount} snapshots)"
            : $"move namespace '{SourceNamespace.Name}' to '{TargetNamespace.Name}': {Groups.Count} groups, {SnapshotCount} snapshots";
}
