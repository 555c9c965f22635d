namespace PbsDatastore.Core.Maintenance;

/// <summary>The plan for one snapshot: its mark and, for <see cref="PruneMark.Keep"/>, the rule that kept it.</summary>
public sealed record PruneEntry<T>(T Snapshot, PruneCandidate Candidate, PruneMark Mark, PruneRule? KeptBy)
{
    public bool Keep => Mark.IsKeep();
}
