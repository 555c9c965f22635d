using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using PbsDatastore.Core.S3;

namespace PbsDatastore.Core.Tests.Support;

/// <summary>
/// s3rver (npm, installed into .tools/s3rver by .ci/run) on a free loopback port over HTTPS with a fresh
/// self-signed certificate that clients pin by fingerprint, as PBS does for such endpoints. A server that cannot
/// start fails the test with the reason; nothing is skipped.
/// </summary>
public sealed class S3TestServer : IDisposable
{
    public const string Bucket = "pbs-test";
    public const string OtherBucket = "pbs-other";
    public const string AccessKey = "S3RVER";
    public const string SecretKey = "S3RVER";

    private readonly Process _node;
    private readonly TempDir _dir = new("pbs-s3rver-");

    public S3TestServer()
    {
        var repo = RepositoryRoot();
        var modules = Path.Combine(repo, ".tools", "s3rver", "node_modules");
        if (!File.Exists(Path.Combine(modules, "s3rver", "package.json")))
            throw new InvalidOperationException(
                $"the S3 test server is not installed ({modules}/s3rver missing): run 'bash .ci/run', or " +
                "'mkdir -p .tools/s3rver && cp tests/tools/s3rver/package*.json .tools/s3rver/ && npm ci --prefix .tools/s3rver'");

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        Fingerprint = S3Endpoint.NormalizeFingerprint(Convert.ToHexString(SHA256.HashData(cert.RawData)))!;
        var certFile = Path.Combine(_dir.Path, "cert.pem");
        var keyFile = Path.Combine(_dir.Path, "key.pem");
        File.WriteAllText(certFile, cert.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
        var data = Directory.CreateDirectory(Path.Combine(_dir.Path, "data")).FullName;

        // s3rver's continuation tokens use DES, which OpenSSL 3 (Node >= 17) keeps in its legacy provider.
        var psi = new ProcessStartInfo("node",
            ["--openssl-legacy-provider", Path.Combine(repo, "tests", "tools", "s3rver", "run.js"), data, certFile, keyFile, Bucket, OtherBucket])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["NODE_PATH"] = modules;
        try { _node = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"the S3 test server cannot start: node not found ({e.Message})", e);
        }
        var stderr = _node.StandardError.ReadToEndAsync();
        var line = _node.StandardOutput.ReadLineAsync();
        if (!line.Wait(TimeSpan.FromSeconds(60)) || line.Result is null)
        {
            try { _node.Kill(); } catch (InvalidOperationException) { }
            _node.WaitForExit(5000);
            throw new InvalidOperationException($"the S3 test server did not start: {(stderr.Wait(1000) ? stderr.Result : "(no output)")}");
        }
        Port = JsonDocument.Parse(line.Result).RootElement.GetProperty("port").GetInt32();
        // Datastores with `backend type=s3,client=test-s3` find this server in s3.cfg under the tests' config root.
        Directory.CreateDirectory(PbsPaths.ConfigRoot);
        File.WriteAllText(Path.Combine(PbsPaths.ConfigRoot, "s3.cfg"), S3ConfigSection());
    }

    /// <summary>A datastore.cfg for an S3 store named <paramref name="store"/> cached at <paramref name="path"/>.</summary>
    public static Core.Hierarchy.DatastoreConfig DatastoreConfig(string store, string path, string bucket = Bucket)
        => Core.Hierarchy.DatastoreConfig.Parse($"datastore: {store}\n\tbackend type=s3,client=test-s3,bucket={bucket}\n\tpath {path}\n");

    public int Port { get; }

    /// <summary>The server certificate's SHA-256 fingerprint (`aa:bb:…`).</summary>
    public string Fingerprint { get; }

    /// <summary>An s3.cfg section for this server (path-style on 127.0.0.1 unless <paramref name="vhost"/>).</summary>
    public string S3ConfigSection(string id = "test-s3", bool vhost = false, string extra = "")
        => $"s3-endpoint: {id}\n\taccess-key {AccessKey}\n\tendpoint {(vhost ? "{{bucket}}.s3.localhost" : "127.0.0.1")}\n" +
           $"\tfingerprint {Fingerprint}\n\tpath-style {(vhost ? "false" : "true")}\n\tport {Port}\n\tregion eu-central-1\n" +
           $"\tsecret-key {SecretKey}\n{extra}";

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

    public void Dispose()
    {
        try
        {
            _node.StandardInput.Close();
            if (!_node.WaitForExit(10_000)) _node.Kill();
        }
        catch (InvalidOperationException) { }
        _node.Dispose();
        _dir.Dispose();
    }

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
