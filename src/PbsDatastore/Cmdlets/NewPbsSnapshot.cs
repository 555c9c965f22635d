using System.Management.Automation;
using System.Security;
using PbsDatastore.Completion;
using PbsDatastore.Core;
using PbsDatastore.Core.Backup;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Infrastructure;
using PbsDatastore.Objects;

namespace PbsDatastore.Cmdlets;

/// <summary>
/// Writes one new snapshot from files or a stream, as a PBS backup does: `*.img` files become fixed indexes,
/// `*.conf`/`*.log` (and names given as `*.blob`) blobs, anything else dynamic indexes cut by PBS's chunker.
/// </summary>
[Cmdlet(VerbsCommon.New, "PbsSnapshot", SupportsShouldProcess = true, DefaultParameterSetName = PathSet)]
[OutputType(typeof(SnapshotInfo))]
public sealed class NewPbsSnapshot : PbsCmdlet
{
    private const string PathSet = "Path";
    private const string StreamSet = "Stream";

    private readonly List<string> _paths = new();

    [Parameter(Mandatory = true, Position = 0)]
    [DatastoreTransformation, AllowNull]
    [ArgumentCompleter(typeof(DatastoreNameCompleter))]
    public Datastore Datastore { get => BoundDatastore; set => BoundDatastore = value; }

    [Parameter]
    [ArgumentCompleter(typeof(NamespaceCompleter))]
    public string Namespace { get; set; } = "";

    [Parameter(Mandatory = true)]
    [ValidateSet("vm", "ct", "host")]
    [Alias("Type")]
    public string BackupType { get; set; } = "";

    [Parameter(Mandatory = true)]
    [ArgumentCompleter(typeof(BackupIdCompleter))]
    [ValidateNotNullOrEmpty]
    [Alias("Id")]
    public string BackupId { get; set; } = "";

    /// <summary>Default: now (whole seconds).</summary>
    [Parameter]
    [BackupTimeTransformation]
    [Alias("Time")]
    public string? BackupTime { get; set; }

    /// <summary>Owner of a new group; an existing group must already belong to it. Default root@pam.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Owner { get; set; } = "root@pam";

    [Parameter(Mandatory = true, Position = 1, ParameterSetName = PathSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName")]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = StreamSet)]
    public Stream InputStream { get; set; } = null!;

    /// <summary>Archive name for -InputStream: `disk.img` (fixed index), `root.pxar` (dynamic index), `x.conf` (blob), or with the final extension.</summary>
    [Parameter(Mandatory = true, ParameterSetName = StreamSet)]
    [ValidateNotNullOrEmpty]
    public string ArchiveName { get; set; } = "";

    /// <summary>Fixed-index chunk size and dynamic-index average chunk size: 64KB … 4MB, a power of two (PBS's client's choices).</summary>
    [Parameter]
    public int ChunkSize { get; set; } = SnapshotWriter.DefaultChunkSize;

    /// <summary>A PBS key file: chunks and blobs are encrypted, the manifest is signed and records the key fingerprint.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? KeyFile { get; set; }

    /// <summary>Password of a password-protected key file.</summary>
    [Parameter]
    public SecureString? Password { get; set; }

    protected override void ProcessRecord()
    {
        // A bad path stops the cmdlet: a snapshot without one of the inputs asked for is no backup.
        if (ParameterSetName == PathSet)
            try { _paths.AddRange(Path.Select(FullPath)); }
            catch (PbsException e) { ThrowTerminating(e); }
    }

    protected override void EndProcessing()
    {
        BackupNamespace ns = BackupNamespace.Root;
        BackupType type = default;
        long time = 0;
        Authid owner = null!;
        Core.Formats.CryptConfig? crypt = null;
        List<Input> inputs = new();
        if (!TryInvoke(BackupId, () =>
            {
                ns = BackupNamespace.Parse(Namespace);
                type = BackupTypes.Parse(BackupType);
                PbsNames.ValidateBackupId(BackupId);
                time = BackupTime is null ? DateTimeOffset.UtcNow.ToUnixTimeSeconds() : Core.Hierarchy.BackupTime.Parse(BackupTime);
                owner = Authid.Parse(Owner);
                if (!SnapshotWriter.AllowedChunkSizes.Contains(ChunkSize))
                    throw new PbsException("UnsupportedChunkSize", PbsErrorKind.InvalidArgument,
                        $"Got unsupported chunk size '{ChunkSize}' (allowed: 64KB, 128KB, 256KB, 512KB, 1MB, 2MB, 4MB)", ChunkSize);
                crypt = KeyFile is null ? null : KeyFiles.Load(FullPath(KeyFile), Password);
                inputs = ParameterSetName == PathSet ? _paths.Select(FileInput).ToList() : [StreamInput()];
            }))
            return;

        var target = $"{(ns.IsRoot ? "" : ns.Name + ":")}{BackupType}/{BackupId}/{Core.Hierarchy.BackupTime.Format(time)}";
        if (!ShouldProcess($"{target} in {Datastore.Name}", $"Create snapshot with {string.Join(", ", inputs.Select(i => i.Name))}"))
            return;

        BackupSnapshot? snapshot = null;
        TryInvoke(target, () => snapshot = RunTask(state =>
        {
            using var writer = SnapshotWriter.Begin(Datastore, ns, type, BackupId, time, owner, crypt, state);
            foreach (var input in inputs)
            {
                var stream = input.Open();
                try { writer.AddArchive(input.Name, stream, input.Length, ChunkSize); }
                finally
                {
                    if (input.Owned) stream.Dispose();
                }
            }
            return writer.Finish();
        }));
        if (snapshot != null)
            WriteObject(Readers.Snapshot(snapshot, owner.ToString(), e => WriteError(ErrorRecords.From(e, snapshot.ToString()))));
    }

    /// <summary>One archive to write; <see cref="Owned"/> streams are ours to close (files), the caller's are not.</summary>
    private sealed record Input(string Name, long? Length, Func<Stream> Open, bool Owned);

    private Input FileInput(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
            throw new PbsException("InputNotFound", PbsErrorKind.ObjectNotFound, $"input file '{path}' not found", path);
        var name = ArchiveNames.ForInput(info.Name);
        return new Input(name, info.Length,
            () => new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan), Owned: true);
    }

    private Input StreamInput()
    {
        long? length = InputStream.CanSeek ? InputStream.Length - InputStream.Position : null;
        return new Input(ArchiveNames.ForInput(ArchiveName), length, () => InputStream, Owned: false);
    }
}
