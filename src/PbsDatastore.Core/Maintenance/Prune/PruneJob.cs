using PbsDatastore.Core.Hierarchy;

namespace PbsDatastore.Core.Maintenance;

/// <summary>What a prune did (or, dry, would do) with one snapshot.</summary>
/// <param name="BackupSnapshot">The snapshot (pipes on to other cmdlets by this name).</param>
/// <param name="MarkKind">PBS's raw mark.</param>
/// <param name="Rule">For a <c>keep</c> mark, the rule that kept the snapshot.</param>
/// <param name="Keep">PBS's API view: kept (any mark but remove, or everything when no option keeps something).</param>
/// <param name="Removed">The snapshot was removed by this run.</param>
public sealed record PruneResult(BackupSnapshot BackupSnapshot, PruneMark MarkKind, PruneRule? Rule, bool Keep, bool Removed)
{
    public string Namespace => BackupSnapshot.Namespace.Name;
    public string Group => BackupSnapshot.Group.GroupName;
    public string Snapshot => BackupSnapshot.SnapshotName;
    public DateTime BackupTime => DateTimeOffset.FromUnixTimeSeconds(BackupSnapshot.Time).LocalDateTime;

    /// <summary><c>keep</c>, <c>keep-partial</c>, <c>protected</c> or <c>remove</c>.</summary>
    public string Mark => MarkKind.ToPbsName();

    /// <summary><c>keep-last</c> … <c>keep-yearly</c> for snapshots a rule kept; null otherwise.</summary>
    public string? KeptBy => Rule?.ToPbsName();

    public bool Protected => MarkKind == PruneMark.Protected;

    /// <summary>Why removing failed (PBS logs it as a warning and goes on), or null.</summary>
    public string? Error { get; init; }

    public override string ToString() => $"{Mark} {BackupSnapshot}";
}

/// <summary>Prune of groups (spec §9.3): plan with <see cref="PruneSelection"/>, remove oldest first.</summary>
public static class PruneJob
{
    /// <summary>PBS's marks for the snapshots of <paramref name="group"/>, oldest first (the order PBS removes in).</summary>
    public static IReadOnlyList<PruneResult> PlanGroup(BackupGroup group, PruneOptions options, TimeZoneInfo? timeZone = null)
    {
        var keepAll = !options.KeepsSomething;
        return PruneSelection.Compute(group.ListSnapshots(), s => new PruneCandidate(s.Time, s.IsFinished, s.IsProtected), options, timeZone)
            .Reverse()
            .Select(e => new PruneResult(e.Snapshot, e.Mark, e.KeptBy, keepAll || e.Keep, Removed: false))
            .ToList();
    }

    /// <summary>
    /// PBS's datastore prune (§9.3): logs its opening lines, then yields the groups of every namespace from
    /// <paramref name="ns"/> down <paramref name="maxDepth"/> levels in PBS's order, logging <c>Pruning group</c> before
    /// each; the caller plans (<see cref="PlanGroup"/>) and executes (<see cref="Execute"/>) each group as it comes.
    /// A namespace directory that is not a valid name goes to <paramref name="onError"/> and is skipped.
    /// </summary>
    public static IEnumerable<BackupGroup> DatastoreGroups(Datastore datastore, BackupNamespace ns, int? maxDepth, PruneOptions options,
        ITaskState task, Action<PbsException>? onError = null)
    {
        var depth = maxDepth switch { null or 7 => "down to full depth", 0 => "non-recursive", int n => $"to depth {n}" };
        task.Log($"Starting datastore prune on {LogText.StoreAndNamespace(datastore, ns)}, {depth}");
        task.Log($"retention options: {RetentionText(options, ns, maxDepth)}");
        foreach (var n in datastore.ListNamespaces(ns, maxDepth, onError).ToList())
            foreach (var group in datastore.ListGroups(n))
            {
                task.Log($"Pruning group {n.Name}:\"{group.GroupName}\"");
                yield return group;
            }
    }

    /// <summary>PBS's opening lines of a prune of one group.</summary>
    public static void StartGroup(BackupGroup group, PruneOptions options, ITaskState task)
    {
        task.Log($"retention options: {RetentionText(options)}");
        task.Log($"Starting prune on {LogText.StoreAndNamespace(group.Datastore, group.Namespace)} group \"{group.GroupName}\"");
    }

    /// <summary>
    /// One entry of a plan: removed when the plan does not keep it and <paramref name="remove"/> (the caller's
    /// confirmation) is true; PBS's mark line (<c>keep …</c>, <c>remove …</c>, <c>would remove …</c>) is logged.
    /// </summary>
    public static PruneResult Execute(PruneResult entry, bool remove, ITaskState task)
    {
        var result = entry.Keep || !remove ? entry : Remove(entry, task);
        task.Log($"{(entry.Keep || result.Removed ? "" : "would ")}{entry.Mark} {entry.BackupSnapshot.SnapshotName}");
        return result;
    }

    /// <summary>
    /// Removes a snapshot the plan does not keep, with the normal (non-forced, locked) snapshot removal. A failure
    /// is PBS's warning <c>failed to remove dir "&lt;relative path&gt;": &lt;err&gt;</c>, and the prune goes on.
    /// </summary>
    public static PruneResult Remove(PruneResult entry, ITaskState task)
    {
        if (entry.Keep)
            throw new PbsException("PruneKeepsSnapshot", PbsErrorKind.InvalidOperation, $"prune keeps {entry.BackupSnapshot}", entry.BackupSnapshot.ToString());
        try
        {
            entry.BackupSnapshot.Destroy(force: false, task);
            return entry with { Removed = true };
        }
        catch (PbsException e) when (e.Kind != PbsErrorKind.OperationStopped)
        {
            var message = $"failed to remove dir \"{entry.BackupSnapshot.RelativePath}\": {e.Message}";
            task.Warn(message);
            return entry with { Error = message };
        }
    }

    /// <summary>PBS's <c>retention options:</c> text: <c>--ns</c>, <c>--max-depth</c>, then the keep options above 0.</summary>
    public static string RetentionText(PruneOptions options, BackupNamespace? ns = null, int? maxDepth = null)
    {
        var parts = new List<string>();
        if (ns is { IsRoot: false })
            parts.Add($"--ns {ns.Name}");
        if (maxDepth is int depth)
            parts.Add($"--max-depth {depth}");
        if (options.ToRetentionString() is { Length: > 0 } keep)
            parts.Add(keep);
        return string.Join(' ', parts);
    }
}
