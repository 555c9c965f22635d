using System.Management.Automation;
using PbsDatastore.Core;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Infrastructure;

namespace PbsDatastore.Cmdlets;

/// <summary>
/// Reads the status of a datastore's last successful garbage collection (<c>.gc-status</c>), with the datastore,
/// when it ran (from its UPID), how long it took and its state, as PBS's datastore summary shows them.
/// </summary>
[Cmdlet(VerbsCommon.Get, "PbsGarbageCollectionStatus")]
[OutputType(typeof(GarbageCollectionStatus))]
public sealed class GetPbsGarbageCollectionStatus : DatastoreCmdlet
{
    protected override void ProcessRecord()
        => TryInvoke(Datastore, () =>
        {
            var status = PSObject.AsPSObject(GarbageCollectionStatus.Read(Datastore));
            var upid = ((GarbageCollectionStatus)status.BaseObject).Upid;
            // PBS writes .gc-status only when a run succeeds, at its end: the file's mtime is when that run ended.
            // Local DateTime, as every time this module emits: it survives serialization (jobs, remoting).
            DateTime? started = Upid.TryParse(upid, out var parsed) && parsed!.StartTime > 0
                ? DateTimeOffset.FromUnixTimeSeconds(parsed.StartTime).LocalDateTime : null;
            var ended = File.GetLastWriteTime(Path.Combine(Datastore.Path, GarbageCollectionStatus.FileName));
            status.Properties.Add(new PSNoteProperty("Datastore", Datastore.Name));
            status.Properties.Add(new PSNoteProperty("LastRun", started));
            status.Properties.Add(new PSNoteProperty("Duration", started is { } s && ended >= s ? ended - s : (TimeSpan?)null));
            status.Properties.Add(new PSNoteProperty("State", upid is null ? "never" : "ok"));
            WriteObject(status);
        });
}
