using System.Management.Automation;
using PbsDatastore.Completion;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Memory;
using PbsDatastore.Infrastructure;
using PbsDatastore.Objects;

namespace PbsDatastore.Cmdlets;

/// <summary>
/// Which snapshots and archives reference given chunks, and which byte ranges of their streams those chunks hold:
/// for digests, for the chunks indexes need but the store lacks (-Missing), or for those verify set aside as
/// `.bad` (-Bad). One pass over every index of the datastore, however many digests are asked about; -Missing holds
/// the referenced digests within -MemoryLimit, in as many passes as that takes.
/// </summary>
[Cmdlet(VerbsCommon.Get, "PbsChunkReference", DefaultParameterSetName = DigestSet)]
[OutputType(typeof(ChunkReferenceInfo))]
public sealed class GetPbsChunkReference : PbsCmdlet
{
    private const string DigestSet = "Digest", MissingSet = "Missing", BadSet = "Bad";

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = DigestSet, ValueFromPipelineByPropertyName = true)]
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = MissingSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = BadSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [DatastoreTransformation, AllowNull]
    [ArgumentCompleter(typeof(DatastoreNameCompleter))]
    public Datastore Datastore { get => BoundDatastore; set => BoundDatastore = value; }

    /// <summary>Chunk digests (64 hex digits); chunk objects bind by their Digest property.</summary>
    [Parameter(Mandatory = true, Position = 1, ParameterSetName = DigestSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    public string[] Digest { get; set; } = [];

    /// <summary>The chunks some index references but whose chunk file does not exist.</summary>
    [Parameter(Mandatory = true, ParameterSetName = MissingSet)]
    public SwitchParameter Missing { get; set; }

    /// <summary>The chunks that have `.bad` files in the chunk store.</summary>
    [Parameter(Mandatory = true, ParameterSetName = BadSet)]
    public SwitchParameter Bad { get; set; }

    /// <summary>
    /// With -Missing: bytes the set of referenced chunk digests may hold (default 256 MiB); a larger store is looked
    /// up in several passes over its indexes, with the same result.
    /// </summary>
    [Parameter(ParameterSetName = MissingSet), ValidateRange(MinMemoryLimit, long.MaxValue)]
    public long MemoryLimit { get; set; } = DigestPartitions.DefaultMemoryLimit;

    // Digests are gathered over the whole pipeline so that each datastore is read once.
    private readonly Dictionary<string, (Datastore Store, List<ChunkDigest> Digests)> _wanted = new(StringComparer.Ordinal);

    protected override void ProcessRecord()
    {
        if (ParameterSetName != DigestSet)
        {
            TryInvoke(Datastore.Name, () =>
            {
                var found = RunTask(state => Missing
                    ? ChunkReferences.FindMissing(Datastore, state, MemoryLimit)
                    : ChunkReferences.FindBad(Datastore, state));
                WriteReferences(Datastore, found);
            });
            return;
        }
        if (!_wanted.TryGetValue(Datastore.Path, out var entry))
            _wanted[Datastore.Path] = entry = (Datastore, new List<ChunkDigest>());
        foreach (var text in Digest)
            TryInvoke(text, () => entry.Digests.Add(ChunkDigest.Parse(text)));
    }

    protected override void EndProcessing()
    {
        foreach (var (store, digests) in _wanted.Values)
        {
            if (digests.Count == 0) continue;
            TryInvoke(store.Name, () =>
            {
                WriteReferences(store, RunTask(state => ChunkReferences.Find(store, digests, state)));
            });
        }
    }

    // The snapshots as objects (each read once however many chunks it references), not as directory names.
    private void WriteReferences(Datastore store, IReadOnlyList<ChunkReference> references)
    {
        var snapshots = new Dictionary<string, SnapshotInfo>(StringComparer.Ordinal);
        SnapshotInfo snapshotOf(string relative)
        {
            if (!snapshots.TryGetValue(relative, out var info))
            {
                var snapshot = SnapshotAt(store, relative);
                snapshots[relative] = info = Readers.Snapshot(snapshot, snapshot.Group.ReadOwner()?.ToString(), e => WriteError(ErrorRecords.From(e)));
            }
            return info;
        }
        foreach (var reference in references)
            WriteObject(new ChunkReferenceInfo(store, reference, [.. reference.Snapshots.Select(snapshotOf)]));
    }

    /// <summary>The snapshot of a directory relative to the store root: `[ns/a/ns/b/]type/id/time`.</summary>
    private static BackupSnapshot SnapshotAt(Datastore store, string relative)
    {
        var parts = relative.Split('/');
        var ns = BackupNamespace.Parse(string.Join('/', parts[..^3].Where((_, i) => i % 2 == 1)));
        return store.Group(ns, BackupTypes.Parse(parts[^3]), parts[^2]).Snapshot(parts[^1]);
    }
}
