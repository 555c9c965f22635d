using System.Management.Automation;
using System.Security;
using PbsDatastore.Completion;
using PbsDatastore.Core;
using PbsDatastore.Core.Backup;
using PbsDatastore.Infrastructure;
using PbsDatastore.Objects;

namespace PbsDatastore.Cmdlets;

/// <summary>
/// Restores one archive of a snapshot (fixed or dynamic index, or blob) to a file or a stream, checking every
/// chunk's digest on the way; a bad or missing chunk stops the export with an error naming it.
/// </summary>
[Cmdlet(VerbsData.Export, "PbsArchive", DefaultParameterSetName = FileSet, SupportsShouldProcess = true)]
[OutputType(typeof(ArchiveExportResult))]
public sealed class ExportPbsArchive : PbsCmdlet
{
    private const string FileSet = "File";
    private const string StreamSet = "Stream";

    /// <summary>The snapshot (from Get-PbsSnapshot or New-PbsSnapshot).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [IdentityTransformation(typeof(SnapshotInfo))]
    [Alias("Snapshot")]
    public SnapshotInfo BackupSnapshot { get; set => field = Hold(value); } = null!;

    /// <summary>Archive name as listed in the manifest; the final .fidx/.didx/.blob may be left out.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ArgumentCompleter(typeof(ArchiveNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string ArchiveName { get; set; } = "";

    [Parameter(Mandatory = true, Position = 2, ParameterSetName = FileSet)]
    [ValidateNotNullOrEmpty]
    public string Destination { get; set; } = "";

    /// <summary>Overwrites an existing destination file.</summary>
    [Parameter(ParameterSetName = FileSet)]
    public SwitchParameter Force { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = StreamSet)]
    public Stream OutputStream { get; set; } = null!;

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? KeyFile { get; set; }

    [Parameter]
    public SecureString? Password { get; set; }

    private Core.Formats.CryptConfig? _crypt;

    protected override void ProcessRecord()
    {
        var snapshot = BackupSnapshot.BackupSnapshot;
        // Loaded for the first snapshot and kept: deriving a passphrase key (scrypt) per piped snapshot is slow.
        if (KeyFile != null && _crypt == null && !TryInvoke(KeyFile, () => _crypt = KeyFiles.Load(FullPath(KeyFile), Password)))
            return;
        var crypt = _crypt;
        if (ParameterSetName == StreamSet)
        {
            if (!ShouldProcess("the output stream", $"Write archive {ArchiveName} of {snapshot}")) return;
            TryInvoke(snapshot.ToString(), () => WriteObject(RunTask(state => ArchiveExporter.Export(snapshot, ArchiveName, OutputStream, crypt, state))));
            return;
        }

        if (!TryFullPath(Destination, out var destination)) return;
        if (!ShouldProcess(destination, $"Write archive {ArchiveName} of {snapshot}")) return;
        TryInvoke(destination, () =>
        {
            if (File.Exists(destination) && !Force)
                throw new PbsException("DestinationExists", PbsErrorKind.ResourceExists,
                    $"'{destination}' exists; use -Force to overwrite it", destination);
            // Written beside the destination and renamed when complete, so a failed export leaves no partial file.
            var partial = destination + ".partial";
            try
            {
                ArchiveExportResult result;
                using (var output = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
                    result = RunTask(state => ArchiveExporter.Export(snapshot, ArchiveName, output, crypt, state));
                File.Move(partial, destination, overwrite: true);
                WriteObject(result with { Destination = destination });
            }
            finally
            {
                File.Delete(partial);
            }
        });
    }
}
