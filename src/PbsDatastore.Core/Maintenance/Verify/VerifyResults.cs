using PbsDatastore.Core.Hierarchy;

namespace PbsDatastore.Core.Maintenance;

public enum SnapshotVerifyState
{
    Ok,
    Failed,
    /// <summary>Not verified: gone, locked, or recently verified (PBS counts these as success).</summary>
    Skipped,
}

/// <summary>The check of one manifest entry.</summary>
/// <param name="Filename">The archive's name in the manifest.</param>
/// <param name="Error">PBS's reason the archive failed (e.g. <c>chunks could not be verified</c>), null when ok.</param>
/// <param name="ChunksLoaded">Chunks of this archive loaded now (not those verified earlier in the run).</param>
/// <param name="ChunkErrors">Every chunk at fault, with PBS's message.</param>
public sealed record ArchiveVerifyResult(string Filename, string? Error, int ChunksLoaded, long ReadBytes, long DecodedBytes,
    IReadOnlyList<ChunkVerifyError> ChunkErrors)
{
    public bool Ok => Error is null;

    /// <summary>Distinct chunks of the archive checked: loaded now, or verified earlier in the same run.</summary>
    public int ChunksChecked { get; init; }

    public bool IsBlob => Filename.EndsWith(".blob", StringComparison.Ordinal);
}

/// <summary>The result of verifying one snapshot. <c>Error</c>: why it was skipped (PBS's wording), or its
/// manifest or signature problem; archive failures are in <c>Archives</c>.</summary>
public sealed record SnapshotVerifyResult(BackupSnapshot BackupSnapshot, SnapshotVerifyState State, string? Error,
    IReadOnlyList<ArchiveVerifyResult> Archives)
{
    public string Namespace => BackupSnapshot.Namespace.Name;
    public string Snapshot => BackupSnapshot.SnapshotName;

    /// <summary>Null without a key or for an unsigned manifest; else whether the signature matched.</summary>
    public bool? SignatureOk { get; init; }

    /// <summary>The UPID written into <c>verify_state</c>; null when nothing was written.</summary>
    public string? VerifyStateUpid { get; init; }

    public bool Ok => State != SnapshotVerifyState.Failed;
    public int ChunksLoaded => Archives.Sum(a => a.ChunksLoaded);
    public int ChunksChecked => Archives.Sum(a => a.ChunksChecked);
    public long ReadBytes => Archives.Sum(a => a.ReadBytes);
    public long DecodedBytes => Archives.Sum(a => a.DecodedBytes);
    public IEnumerable<ChunkVerifyError> ChunkErrors => Archives.SelectMany(a => a.ChunkErrors);

    public override string ToString() => $"{State} {BackupSnapshot}";
}
