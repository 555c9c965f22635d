using System.Management.Automation;
using PbsDatastore.Completion;
using PbsDatastore.Core;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Infrastructure;
using PbsDatastore.Objects;

namespace PbsDatastore.Cmdlets;

/// <summary>Header facts and chunk entries of .fidx/.didx files, by path or from a snapshot.</summary>
[Cmdlet(VerbsCommon.Get, "PbsIndex", DefaultParameterSetName = SnapshotSet)]
[OutputType(typeof(IndexInfo))]
public sealed class GetPbsIndex : PbsCmdlet
{
    private const string PathSet = "Path";
    private const string SnapshotSet = "Snapshot";

    [Parameter(ParameterSetName = PathSet, Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName")]
    [SupportsWildcards]
    public string[] Path { get; set; } = [];

    [Parameter(ParameterSetName = SnapshotSet, Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [DatastoreTransformation, AllowNull]
    [ArgumentCompleter(typeof(DatastoreNameCompleter))]
    public Datastore Datastore { get => BoundDatastore; set => BoundDatastore = value; }

    [Parameter(ParameterSetName = SnapshotSet, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(NamespaceCompleter))]
    [AllowEmptyString]
    public string Namespace { get; set; } = "";

    [Parameter(ParameterSetName = SnapshotSet, Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateSet("ct", "host", "vm")]
    [Alias("Type")]
    public string BackupType { get; set; } = null!;

    [Parameter(ParameterSetName = SnapshotSet, Mandatory = true, Position = 2, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(BackupIdCompleter))]
    [Alias("Id")]
    public string BackupId { get; set; } = null!;

    [Parameter(ParameterSetName = SnapshotSet, Mandatory = true, Position = 3, ValueFromPipelineByPropertyName = true)]
    [BackupTimeTransformation]
    [ArgumentCompleter(typeof(BackupTimeCompleter))]
    [Alias("Time")]
    public string BackupTime { get; set; } = null!;

    /// <summary>Index archives to read (wildcards); all .fidx and .didx files of the snapshot by default.</summary>
    [Parameter(ParameterSetName = SnapshotSet, Position = 4)]
    [ArgumentCompleter(typeof(IndexArchiveNameCompleter))]
    [SupportsWildcards]
    public string[]? ArchiveName { get; set; }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == PathSet)
        {
            foreach (var p in Path)
                foreach (var file in ResolvePaths(p))
                    TryInvoke(file, () => WriteObject(new IndexInfo(IndexFile.Open(file))));
            return;
        }

        TryInvoke(BackupId, () =>
        {
            var ns = Selection.Namespace(Datastore, Namespace);
            var group = Selection.Groups(Datastore, ns, BackupType, BackupId).Single();
            var snapshot = Selection.Snapshot(group, BackupTime);
            var info = Readers.Snapshot(snapshot, owner: null, e => WriteWarning(e.Message));
            var indexes = info.Files.Where(f => f.EndsWith(".fidx", StringComparison.Ordinal) || f.EndsWith(".didx", StringComparison.Ordinal));
            foreach (var name in ArchiveName ?? ["*"])
            {
                var pattern = Arguments.Pattern(name);
                var matches = indexes.Where(pattern.IsMatch).ToList();
                if (matches.Count == 0 && !WildcardPattern.ContainsWildcardCharacters(name))
                    WriteError(ErrorRecords.From(new PbsException("ArchiveNotFound", PbsErrorKind.ObjectNotFound,
                        $"snapshot '{snapshot}' has no index archive '{name}'", name)));
                foreach (var file in matches)
                    TryInvoke(file, () => WriteObject(new IndexInfo(IndexFile.Open(System.IO.Path.Combine(snapshot.FullPath, file)), info)));
            }
        });
    }
}
