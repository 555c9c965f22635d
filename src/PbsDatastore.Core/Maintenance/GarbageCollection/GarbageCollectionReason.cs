namespace PbsDatastore.Core.Maintenance;

/// <summary>Why the sweep removes or keeps an unreferenced file.</summary>
public enum GarbageCollectionReason
{
    /// <summary>Unreferenced chunk with atime before the cutoff: removed.</summary>
    UnreferencedPastCutoff,
    /// <summary>Unreferenced chunk still inside the grace period: kept (pending).</summary>
    UnreferencedWithinGrace,
    /// <summary><c>.N.bad</c> file with atime before the cutoff: removed.</summary>
    BadPastCutoff,
    /// <summary><c>.N.bad</c> file inside the grace period: kept (still bad).</summary>
    BadWithinGrace,
}

/// <summary>Files and bytes for one <see cref="GarbageCollectionReason"/>.</summary>
public sealed record GarbageCollectionReasonTotal(GarbageCollectionReason Reason, long Files, long Bytes, bool Removed);
