using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using PbsDatastore.Core.S3;

namespace PbsDatastore.Testing;

/// <summary>
/// s3rver (npm, installed into .tools/s3rver by .ci/run) on a free loopback port over HTTPS with a fresh
/// self-signed certificate that clients pin by fingerprint, as PBS does for such endpoints; the given buckets are
/// created. Shared by the tests and the benchmarks (linked into both). A server that cannot start throws with the
/// reason; it stops when disposed (or when this process ends: it exits when its stdin closes).
/// </summary>
public sealed class S3rverProcess : IDisposable
{
    public const string AccessKey = "S3RVER";
    public const string SecretKey = "S3RVER";

    private readonly Process _node;
    private readonly string _dir = Directory.CreateTempSubdirectory("pbs-s3rver-").FullName;

    public S3rverProcess(string repoRoot, params string[] buckets)
    {
        var modules = Modules(repoRoot);
        if (!IsInstalled(repoRoot))
            throw new InvalidOperationException($"the S3 test server is not installed ({modules}/s3rver missing): {InstallCommand}");

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        Fingerprint = S3Endpoint.NormalizeFingerprint(Convert.ToHexString(SHA256.HashData(cert.RawData)))!;
        var certFile = Path.Combine(_dir, "cert.pem");
        var keyFile = Path.Combine(_dir, "key.pem");
        File.WriteAllText(certFile, cert.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
        var data = Directory.CreateDirectory(Path.Combine(_dir, "data")).FullName;

        // s3rver's continuation tokens use DES, which OpenSSL 3 (Node >= 17) keeps in its legacy provider.
        var psi = new ProcessStartInfo("node",
            ["--openssl-legacy-provider", Path.Combine(repoRoot, "tests", "tools", "s3rver", "run.js"), data, certFile, keyFile, .. buckets])
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
    }

    public const string InstallCommand = "run 'bash .ci/run', or " +
        "'mkdir -p .tools/s3rver && cp tests/tools/s3rver/package*.json .tools/s3rver/ && npm ci --prefix .tools/s3rver'";

    private static string Modules(string repoRoot) => Path.Combine(repoRoot, ".tools", "s3rver", "node_modules");

    public static bool IsInstalled(string repoRoot) => File.Exists(Path.Combine(Modules(repoRoot), "s3rver", "package.json"));

    public int Port { get; }

    /// <summary>The server certificate's SHA-256 fingerprint (`aa:bb:…`).</summary>
    public string Fingerprint { get; }

    /// <summary>An s3.cfg section for this server (path-style on 127.0.0.1 unless <paramref name="vhost"/>).</summary>
    public string S3ConfigSection(string id, bool vhost = false, string extra = "")
        => $"s3-endpoint: {id}\n\taccess-key {AccessKey}\n\tendpoint {(vhost ? "{{bucket}}.s3.localhost" : "127.0.0.1")}\n" +
           $"\tfingerprint {Fingerprint}\n\tpath-style {(vhost ? "false" : "true")}\n\tport {Port}\n\tregion eu-central-1\n" +
           $"\tsecret-key {SecretKey}\n{extra}";

    public void Dispose()
    {
        try
        {
            _node.StandardInput.Close();
            if (!_node.WaitForExit(10_000)) _node.Kill();
        }
        catch (InvalidOperationException) { }
        _node.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
