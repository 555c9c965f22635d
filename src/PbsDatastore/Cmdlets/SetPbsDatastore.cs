using System.Management.Automation;
using PbsDatastore.Core;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Infrastructure;

namespace PbsDatastore.Cmdlets;

/// <summary>
/// Changes a configured datastore's maintenance mode or comment in datastore.cfg, under PBS's config lock, so a
/// running PBS refuses new operations (read-only: writes; offline: everything) from its next lookup on.
/// </summary>
[Cmdlet(VerbsCommon.Set, "PbsDatastore", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(Datastore))]
public sealed class SetPbsDatastore : DatastoreCmdlet
{
    /// <summary>`none` clears the mode.</summary>
    [Parameter]
    [ValidateSet("none", "read-only", "offline")]
    public string? MaintenanceMode { get; set; }

    [Parameter]
    public string? MaintenanceMessage { get; set; }

    /// <summary>An empty comment removes it.</summary>
    [Parameter]
    [AllowEmptyString]
    public string? Comment { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var store = Datastore;
        TryInvoke(store.Name, () =>
        {
            var name = store.Config?.Name ?? throw new PbsException("DatastoreNotConfigured", PbsErrorKind.ObjectNotFound,
                $"datastore '{store.Name}' ({store.Path}) is not in {PbsPaths.DatastoreConfigFile}", store.Name);
            var changes = ConfigChanges();
            if (changes.Count == 0 || !ShouldProcess($"{name} ({PbsPaths.DatastoreConfigFile})", Describe(changes)))
                return;
            DatastoreConfigEditor.Update(name, changes);
            if (PassThru) WriteObject(Datastore.OpenConfigured(name));
        });
    }

    private Dictionary<string, string?> ConfigChanges()
    {
        var changes = new Dictionary<string, string?>();
        if (MaintenanceMode is not null)
            changes["maintenance-mode"] = MaintenanceMode == "none" ? null : Core.Hierarchy.MaintenanceMode.Format(MaintenanceMode, MaintenanceMessage);
        else if (MaintenanceMessage is not null)
            throw new PbsException("MaintenanceModeRequired", PbsErrorKind.InvalidArgument,
                "-MaintenanceMessage needs -MaintenanceMode read-only or offline", MaintenanceMessage);
        if (Comment is not null)
            changes["comment"] = Comment.Length == 0 ? null : Comment;
        return changes;
    }

    private static string Describe(Dictionary<string, string?> changes)
        => string.Join(", ", changes.Select(c => c.Value is null ? $"remove {c.Key}" : $"set {c.Key} to '{c.Value}'"));
}
