namespace PbsDatastore.Core.Maintenance;

/// <summary>A chunk an index references but the chunk store lacks (PBS's missing-chunk warning).</summary>
public sealed record MissingChunk(string Digest, string IndexPath);
