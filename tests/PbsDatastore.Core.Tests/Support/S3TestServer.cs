using PbsDatastore.Core.S3;
using PbsDatastore.Testing;

namespace PbsDatastore.Core.Tests.Support;

/// <summary>
/// The tests' S3 server (<see cref="S3rverProcess"/>) with buckets <see cref="Bucket"/> and <see cref="OtherBucket"/>,
/// written into s3.cfg under the tests' config root as endpoint `test-s3`. A server that cannot start fails the
/// test with the reason; nothing is skipped.
/// </summary>
public sealed class S3TestServer : IDisposable
{
    public const string Bucket = "pbs-test";
    public const string OtherBucket = "pbs-other";

    private readonly S3rverProcess _server = new(RepositoryRoot(), Bucket, OtherBucket);

    public S3TestServer()
    {
        // Datastores with `backend type=s3,client=test-s3` find this server in s3.cfg under the tests' config root.
        Directory.CreateDirectory(PbsPaths.ConfigRoot);
        File.WriteAllText(Path.Combine(PbsPaths.ConfigRoot, "s3.cfg"), S3ConfigSection());
    }

    /// <summary>A datastore.cfg for an S3 store named <paramref name="store"/> cached at <paramref name="path"/>.</summary>
    public static Core.Hierarchy.DatastoreConfig DatastoreConfig(string store, string path, string bucket = Bucket)
        => Core.Hierarchy.DatastoreConfig.Parse($"datastore: {store}\n\tbackend type=s3,client=test-s3,bucket={bucket}\n\tpath {path}\n");

    public int Port => _server.Port;

    /// <summary>The server certificate's SHA-256 fingerprint (`aa:bb:…`).</summary>
    public string Fingerprint => _server.Fingerprint;

    /// <summary>An s3.cfg section for this server (path-style on 127.0.0.1 unless <paramref name="vhost"/>).</summary>
    public string S3ConfigSection(string id = "test-s3", bool vhost = false, string extra = "") => _server.S3ConfigSection(id, vhost, extra);

    public S3Endpoint Endpoint(string id = "test-s3", bool vhost = false, string extra = "")
        => S3EndpointConfig.Parse(S3ConfigSection(id, vhost, extra)).Get(id);

    /// <summary>A client with short retry delays (tests should not wait seconds for backoff).</summary>
    public S3Client Client(string bucket = Bucket, S3Endpoint? endpoint = null, HttpMessageHandler? transport = null,
        S3ClientOptions? options = null)
    {
        endpoint ??= Endpoint();
        return new S3Client(endpoint, bucket, options ?? FastRetries, transport ?? S3Client.CreateTransport(endpoint));
    }

    public static S3ClientOptions FastRetries { get; } = new()
    {
        BaseDelay = TimeSpan.FromMilliseconds(5),
        MaxDelay = TimeSpan.FromMilliseconds(50),
        RequestTimeout = TimeSpan.FromSeconds(30),
    };

    public void Dispose() => _server.Dispose();

    private static string RepositoryRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "PbsDatastore.psd1"))) return d.FullName;
        throw new InvalidOperationException("repository root (PbsDatastore.psd1) not found above the test binaries");
    }
}

/// <summary>One s3rver for all S3 test classes (starting node per class costs seconds on a busy machine).</summary>
[CollectionDefinition(Name)]
public sealed class S3ServerCollection : ICollectionFixture<S3TestServer>
{
    public const string Name = "S3 server";
}
