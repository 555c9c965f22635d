using System.Management.Automation;
using PbsDatastore.Core;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Store;
using PbsDatastore.Infrastructure;

namespace PbsDatastore.Cmdlets;

/// <summary>
/// Creates a datastore directory as PBS does (chunk store with its 65536 prefix directories and .lock, owned by
/// backup:backup when run as root). It does not edit datastore.cfg.
/// </summary>
[Cmdlet(VerbsCommon.New, "PbsDatastore", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(Datastore))]
public sealed class NewPbsDatastore : PbsCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = null!;

    /// <summary>Datastore name (3–32 characters, PBS's SAFE_ID syntax); defaults to the directory name.</summary>
    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Name { get; set; }

    protected override void ProcessRecord()
    {
        var full = GetUnresolvedProviderPathFromPSPath(Path);
        var name = Name ?? System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(full));
        TryInvoke(full, () =>
        {
            if (Name != null && (Name.Length < 3 || Name.Length > 32 || !PbsNames.IsSafeId(Name)))
                throw new PbsException("InvalidDatastoreName", PbsErrorKind.InvalidArgument,
                    $"invalid datastore name {PbsNames.Quote(Name)} - 3 to 32 letters, digits, '_', '.', '-'", Name);
            if (!ShouldProcess(full, $"Create datastore '{name}' (chunk store with 65536 directories)"))
                return;
            RunTask(state => ChunkStore.Create(name, full, state));
            WriteObject(Datastore.Open(full, Name));
        });
    }
}
