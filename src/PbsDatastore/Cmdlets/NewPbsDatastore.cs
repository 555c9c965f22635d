using System.Management.Automation;
using PbsDatastore.Core;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Store;
using PbsDatastore.Infrastructure;

namespace PbsDatastore.Cmdlets;

/// <summary>
/// Creates a datastore directory as PBS does (chunk store with its 65536 prefix directories and .lock, owned by
/// backup:backup when run as root). With -Name it is also added to datastore.cfg, under PBS's config lock.
/// </summary>
[Cmdlet(VerbsCommon.New, "PbsDatastore", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(Datastore))]
public sealed class NewPbsDatastore : PbsCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = null!;

    /// <summary>Datastore name (3–32 characters, PBS's SAFE_ID syntax) to add to datastore.cfg.</summary>
    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Name { get; set; }

    /// <summary>The datastore.cfg comment (with -Name).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? Comment { get; set; }

    protected override void ProcessRecord()
    {
        if (!TryFullPath(Path, out var full)) return;
        var name = Name ?? System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(full));
        TryInvoke(full, () =>
        {
            if (Name != null) DatastoreConfigEditor.ValidateName(Name);
            else if (Comment != null)
                throw new PbsException("NameRequired", PbsErrorKind.InvalidArgument, "-Comment is stored in datastore.cfg and needs -Name", Comment);
            // Refuse a taken name before creating 65536 directories; the config edit checks again under its lock.
            if (Name != null && File.Exists(PbsPaths.DatastoreConfigFile) && DatastoreConfig.Load().TryGet(Name) != null)
                throw new PbsException("DatastoreExists", PbsErrorKind.ResourceExists, $"datastore '{Name}' already exists.", Name);
            var action = Name is null
                ? $"Create datastore '{name}' (chunk store with 65536 directories)"
                : $"Create datastore '{name}' (chunk store with 65536 directories) and add it to {PbsPaths.DatastoreConfigFile}";
            if (!ShouldProcess(full, action))
                return;
            RunTask(state => FilesystemBackend.Create(name, full, state).Dispose());
            if (Name != null)
            {
                var properties = new Dictionary<string, string> { ["path"] = full };
                if (Comment != null) properties["comment"] = Comment;
                DatastoreConfigEditor.Add(Name, properties);
            }
            WriteObject(Datastore.Open(full, Name));
        });
    }
}
