using System.Management.Automation;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Memory;
using PbsDatastore.Infrastructure;

namespace PbsDatastore.Cmdlets;

/// <summary>
/// Lists the chunk-store files no index references (digest, size, atime, bad or not) and whether a garbage
/// collection started now would remove them. Read-only: touches nothing and takes no lock.
/// </summary>
[Cmdlet(VerbsCommon.Get, "PbsUnreferencedChunk")]
[OutputType(typeof(UnreferencedChunk))]
public sealed class GetPbsUnreferencedChunk : DatastoreCmdlet
{
    /// <summary>The cutoff WouldRemoveNow is computed with; default as for Invoke-PbsGarbageCollection.</summary>
    [Parameter]
    public TimeSpan? AtimeCutoff { get; set; }

    /// <summary>
    /// Bytes the digest set may hold (default 256 MiB); a larger store is processed in several passes over
    /// its indexes, with the same result.
    /// </summary>
    [Parameter, ValidateRange(MinMemoryLimit, long.MaxValue)]
    public long MemoryLimit { get; set; } = DigestPartitions.DefaultMemoryLimit;

    protected override void ProcessRecord()
        => TryInvoke(Datastore, () =>
        {
            var options = new GarbageCollectionOptions { AtimeCutoff = AtimeCutoff, MemoryLimit = MemoryLimit };
            WriteObject(RunTask(state => GarbageCollection.FindUnreferencedChunks(Datastore, options, state)), enumerateCollection: true);
        });
}
