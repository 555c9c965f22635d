using System.Management.Automation;
using System.Security;
using PbsDatastore.Completion;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.S3;
using PbsDatastore.Core.Store;
using PbsDatastore.Infrastructure;
using PbsDatastore.Objects;

namespace PbsDatastore.Cmdlets;

/// <summary>
/// Inspects chunks by digest (in a datastore's chunk store) or chunk and blob files by path: kind, sizes, CRC,
/// and with a key for encrypted data, the decoded length, its SHA-256 and the digest check.
/// </summary>
[Cmdlet(VerbsCommon.Get, "PbsChunk", DefaultParameterSetName = DigestSet)]
[OutputType(typeof(ChunkInfo))]
public sealed class GetPbsChunk : PbsCmdlet
{
    private const string DigestSet = "Digest";
    private const string PathSet = "Path";
    private CryptConfig? _crypt;

    [Parameter(ParameterSetName = DigestSet, Mandatory = true, Position = 0)]
    [DatastoreTransformation, AllowNull]
    [ArgumentCompleter(typeof(DatastoreNameCompleter))]
    public Datastore Datastore { get => BoundDatastore; set => BoundDatastore = value; }

    [Parameter(ParameterSetName = DigestSet, Mandatory = true, Position = 1, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string[] Digest { get; set; } = [];

    [Parameter(ParameterSetName = PathSet, Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName")]
    [SupportsWildcards]
    public string[] Path { get; set; } = [];

    /// <summary>A PBS key file (JSON) to decrypt encrypted chunks with.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? KeyFile { get; set; }

    /// <summary>The key file's password (scrypt or PBKDF2 protected key files).</summary>
    [Parameter]
    public SecureString? Password { get; set; }

    protected override void BeginProcessing() => _crypt = LoadKeyFile(KeyFile, Password);

    protected override void ProcessRecord()
    {
        if (ParameterSetName == PathSet)
        {
            foreach (var p in Path)
                foreach (var file in ResolvePaths(p))
                    Inspect(file);
            return;
        }
        foreach (var d in Digest)
            TryInvoke(d, () =>
            {
                var digest = ChunkDigest.Parse(d);
                var hex = digest.ToString();
                var file = System.IO.Path.Combine(Datastore.ChunkStorePath, hex[..4], hex);
                // An S3 store's cache may hold only an empty marker: the chunk then comes from the bucket.
                if (Datastore.Backend is S3Backend s3 && s3.State(digest) != S3CachedChunk.Cached)
                    Inspect(file, s3.LoadChunk(digest));
                else Inspect(file);
            });
    }

    private void Inspect(string file, byte[]? raw = null)
        => TryInvoke(file, () => WriteObject(ChunkInfo.From(BlobFileCheck.Run(file, _crypt, e => WriteError(ErrorRecords.From(e, file)), raw))));
}
