namespace PbsDatastore.Core.Maintenance;

/// <summary>A chunk-store file no index references (for scripts: what GC would do with it now).</summary>
public sealed record UnreferencedChunk
{
    public required string Digest { get; init; }
    public required string Name { get; init; }
    public required string Path { get; init; }
    public required long Size { get; init; }
    public required DateTime Atime { get; init; }
    public required bool IsBad { get; init; }
    /// <summary>True when a garbage collection started now would remove it (atime before the cutoff).</summary>
    public required bool WouldRemoveNow { get; init; }
}
