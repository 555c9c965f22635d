namespace PbsDatastore.Core.Maintenance;

/// <summary>The mark PBS's <c>compute_prune_info</c> gives a snapshot.</summary>
public enum PruneMark
{
    Keep,
    /// <summary>The newest snapshot of the group is unfinished (possibly a backup still running).</summary>
    KeepPartial,
    Protected,
    Remove,
}

public static class PruneMarkExtensions
{
    /// <summary>PBS's display form: <c>keep</c>, <c>keep-partial</c>, <c>protected</c>, <c>remove</c>.</summary>
    public static string ToPbsName(this PruneMark mark) => mark switch
    {
        PruneMark.Keep => "keep",
        PruneMark.KeepPartial => "keep-partial",
        PruneMark.Protected => "protected",
        PruneMark.Remove => "remove",
        _ => throw new ArgumentOutOfRangeException(nameof(mark)),
    };

    /// <summary>PBS's <c>PruneMark::keep()</c>: every mark except remove.</summary>
    public static bool IsKeep(this PruneMark mark) => mark != PruneMark.Remove;
}
