using System.Diagnostics;

namespace PbsDatastore.Core.Tests.Support;

/// <summary>
/// A private copy of the reference store holding only its files (and the directories above them), not the 65536
/// empty chunk prefix directories: seconds instead of minutes to create and delete on a busy disk. For tests
/// that read and change snapshots and chunks but never need the empty prefix directories.
/// </summary>
public static class SparseStoreCopy
{
    private static readonly Lazy<string> FileList = new(() =>
    {
        var tarball = Path.Combine(ReferenceStore.FixturesDir, "pbs-reference-store.tar.gz");
        var psi = new ProcessStartInfo("tar", ["-tzf", tarball]) { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var files = p.StandardOutput.ReadToEnd().Split('\n').Where(l => l.Length > 0 && !l.EndsWith('/')).ToList();
        p.WaitForExit();
        var list = Path.Combine(Path.GetTempPath(), $"pbs-ref-files-{Environment.ProcessId}.txt");
        File.WriteAllLines(list, files);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => File.Delete(list);
        return list;
    });

    public static TempDir Create()
    {
        var dir = new TempDir("pbs-ref-sparse-");
        var psi = new ProcessStartInfo("tar", ["-xzf", Path.Combine(ReferenceStore.FixturesDir, "pbs-reference-store.tar.gz"),
            "-C", dir.Path, "-T", FileList.Value]) { RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"tar failed: {err}");
        return dir;
    }
}
