using System.Diagnostics;

namespace PbsDatastore.Core.Tests.Support;

/// <summary>
/// A fresh extraction of the reference store without its empty <c>.chunks/xxxx</c> prefix directories: every file
/// and every other directory as in the tarball, but about 150 directories instead of 65 600, so it is created and
/// deleted in well under a second. PBS skips missing prefix directories silently (§1.2), so chunk-store iteration
/// and GC figures are the same; only the sweep's progress lines (which count prefix directories) differ.
/// </summary>
public static class SparseReferenceStore
{
    private static readonly Lazy<string> MemberList = new(WriteMemberList);

    public static TempDir FreshCopy()
    {
        var dir = new TempDir("pbs-ref-sparse-");
        Run("tar", ["-xzf", Tarball, "-C", dir.Path, "--no-recursion", "-T", MemberList.Value]);
        return dir;
    }

    private static string Tarball => Path.Combine(ReferenceStore.FixturesDir, "pbs-reference-store.tar.gz");

    private static string WriteMemberList()
    {
        var members = Run("tar", ["-tzf", Tarball]).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var usedPrefixDirs = members
            .Where(m => !m.EndsWith('/') && m.Contains("/.chunks/"))
            .Select(m => m[..(m.LastIndexOf('/') + 1)])
            .ToHashSet(StringComparer.Ordinal);
        var keep = members.Where(m => !IsPrefixDir(m) || usedPrefixDirs.Contains(m));
        var file = Path.Combine(Path.GetTempPath(), $"pbs-ref-sparse-{Environment.ProcessId}.list");
        File.WriteAllLines(file, keep);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => File.Delete(file);
        return file;
    }

    private static bool IsPrefixDir(string member)
    {
        var marker = member.IndexOf("/.chunks/", StringComparison.Ordinal);
        return marker >= 0 && member.EndsWith('/') && member.Length == marker + "/.chunks/".Length + 5;
    }

    private static string Run(string file, string[] args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} failed: {stderr.Result}");
        return output;
    }
}
