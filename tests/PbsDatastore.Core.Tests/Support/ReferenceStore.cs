using System.Diagnostics;
using System.Text.Json.Nodes;

namespace PbsDatastore.Core.Tests.Support;

/// <summary>
/// The reference datastore written by PBS's own code (../shared/fixtures) and the figures PBS read back from it.
/// The tarball is extracted once per test run into a pristine folder; tests that change anything take a
/// <see cref="FreshCopy"/>.
/// </summary>
public static class ReferenceStore
{
    private static readonly Lazy<string> PristineRoot = new(ExtractPristine);
    private static readonly Lazy<JsonObject> ExpectedJson = new(() =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(FixturesDir, "pbs-reference-store.expected.json")))!.AsObject());

    /// <summary>../shared/fixtures relative to the repository root, found by walking up from the test binaries.</summary>
    public static string FixturesDir { get; } = FindFixtures();

    public static JsonObject Expected => ExpectedJson.Value;

    /// <summary>Path of the pristine extracted store. Do not modify: use <see cref="FreshCopy"/>.</summary>
    public static string PristinePath => Path.Combine(PristineRoot.Value, "pbs-reference-store");

    public static string KeyFile => Path.Combine(FixturesDir, "pbs-reference-key.json");
    public static string ScryptKeyFile => Path.Combine(FixturesDir, "pbs-reference-key-scrypt.json");
    public static string ScryptPassword => (string)Expected["key"]!["scrypt_password"]!;

    /// <summary>A private extraction (tar keeps atimes/mtimes as PBS left them) that the caller may change.</summary>
    public static TempDir FreshCopy()
    {
        var dir = new TempDir("pbs-ref-");
        Tar.Extract(Path.Combine(FixturesDir, "pbs-reference-store.tar.gz"), dir.Path);
        return dir;
    }

    private static string ExtractPristine()
    {
        var dir = new TempDir("pbs-ref-pristine-", deleteOnDispose: false);
        Tar.Extract(Path.Combine(FixturesDir, "pbs-reference-store.tar.gz"), dir.Path);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(dir.Path, true); } catch { } };
        return dir.Path;
    }

    private static string FindFixtures()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "..", "shared", "fixtures");
            if (File.Exists(Path.Combine(candidate, "pbs-reference-store.tar.gz")) && File.Exists(Path.Combine(d.FullName, "PbsDatastore.psd1")))
                return Path.GetFullPath(candidate);
        }
        throw new InvalidOperationException("../shared/fixtures not found beside the repository");
    }
}

/// <summary>A temporary directory removed on dispose.</summary>
public sealed class TempDir : IDisposable
{
    private readonly bool _deleteOnDispose;

    public TempDir(string prefix = "pbs-test-", bool deleteOnDispose = true)
    {
        Path = Directory.CreateTempSubdirectory(prefix).FullName;
        _deleteOnDispose = deleteOnDispose;
    }

    public string Path { get; }

    /// <summary>The extracted reference store inside this directory.</summary>
    public string StorePath => System.IO.Path.Combine(Path, "pbs-reference-store");

    public void Dispose()
    {
        if (!_deleteOnDispose) return;
        try { Directory.Delete(Path, true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // .NET cannot name entries that are not UTF-8 (some tests make them on purpose); rm can.
            using var rm = System.Diagnostics.Process.Start("rm", ["-rf", "--", Path]);
            rm.WaitForExit();
        }
    }
}

public static class Tar
{
    public static void Extract(string tarball, string destination)
    {
        var psi = new ProcessStartInfo("tar", ["-xzf", tarball, "-C", destination]) { RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"tar failed: {err}");
    }
}
