using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Maintenance;

namespace PbsDatastore.Objects;

/// <summary>
/// A chunk and everything that references it, with the referencing snapshots as snapshot objects, so that they
/// pipe on to Test-PbsSnapshot, Remove-PbsSnapshot and the other snapshot cmdlets.
/// </summary>
public sealed class ChunkReferenceInfo(Datastore datastore, ChunkReference reference, SnapshotInfo[] snapshots) : IDatastoreItem
{
    public Datastore Datastore { get; } = datastore;
    /// <summary>The core object, for scripts that want it.</summary>
    public ChunkReference ChunkReference { get; } = reference;
    public ChunkDigest Digest => ChunkReference.Digest;
    /// <summary>The chunk file exists.</summary>
    public bool Present => ChunkReference.Present;
    /// <summary>Names of its `.bad` files in the chunk store (corrupt copies verify set aside).</summary>
    public IReadOnlyList<string> BadFiles => ChunkReference.BadFiles;
    /// <summary>Index files referencing it, with the byte ranges the chunk holds.</summary>
    public IReadOnlyList<ChunkUse> Uses => ChunkReference.Uses;
    /// <summary>Snapshots referencing it, in path order.</summary>
    public SnapshotInfo[] Snapshots { get; } = snapshots;

    public override string ToString() => Digest.ToString();
}
