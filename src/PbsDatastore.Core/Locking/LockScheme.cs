namespace PbsDatastore.Core.Locking;

/// <summary>What PBS does with a group once its snapshots are gone (it depends on version and lock mode).</summary>
public enum GroupCleanup
{
    /// <summary>PBS up to 3.3.4: group destroy removes the whole group directory; snapshot removal never does.</summary>
    RemoveGroupDirectory,

    /// <summary>PBS ≥ 3.3.5 in old-locking mode: the (empty) group directory, owner and notes stay.</summary>
    KeepGroupDirectory,

    /// <summary>PBS ≥ 3.3.5 in new mode: a group left without snapshots loses notes, owner, directory and lock file.</summary>
    RemoveEmptyGroups,
}

/// <summary>
/// Which of PBS's lock schemes to take, chosen per the spec's rule (Appendix A step 0): the installed PBS version
/// first; below 3.3.5 only the 3.2 scheme (directory flocks, manifest lock under the old path) whatever
/// `old-locking` says; from 3.3.5 on, or when no PBS version can be found, both schemes, because PBS processes
/// may be in either mode. The `old-locking` sentinel decides only the clean-up after removals.
/// </summary>
public sealed record LockScheme(string? PbsVersion, bool DirectoryLocks, bool LockFiles, bool OldLockingSentinel, GroupCleanup Cleanup)
{
    /// <summary>Overrides the detected PBS version (e.g. `3.2.4`, `3.4.1-1`; `none` for "PBS not installed").</summary>
    public const string VersionVariable = "PBS_DATASTORE_PBS_VERSION";

    public const string DpkgStatusFile = "/var/lib/dpkg/status";

    private static readonly Version FirstLockFileVersion = new(3, 3, 5);

    // dpkg's status file is large and the installed version does not change under a running tool: read it once.
    private static readonly Lazy<string?> DpkgVersion = new(() => InstalledPbsVersion());

    /// <summary>The `old-locking` sentinel under the run root.</summary>
    public static string SentinelPath => Path.Combine(PbsPaths.RunRoot, "old-locking");

    /// <summary>Decides the scheme from the PBS version (environment override or dpkg) and the sentinel.</summary>
    public static LockScheme Detect()
    {
        var version = Environment.GetEnvironmentVariable(VersionVariable) is { Length: > 0 } v
            ? (v == "none" ? null : v)
            : DpkgVersion.Value;
        return For(version, File.Exists(SentinelPath) || Directory.Exists(SentinelPath));
    }

    /// <summary>The scheme for a PBS version (null: unknown / not installed) and the sentinel's presence.</summary>
    public static LockScheme For(string? pbsVersion, bool sentinel)
    {
        var parsed = ParseVersion(pbsVersion);
        if (parsed != null && parsed < FirstLockFileVersion)
            return new LockScheme(pbsVersion, DirectoryLocks: true, LockFiles: false, sentinel, GroupCleanup.RemoveGroupDirectory);
        var cleanup = sentinel ? GroupCleanup.KeepGroupDirectory
            : parsed != null ? GroupCleanup.RemoveEmptyGroups
            // No PBS found: nobody runs in new mode, the 3.2.4 behaviour is the baseline.
            : GroupCleanup.RemoveGroupDirectory;
        return new LockScheme(pbsVersion, DirectoryLocks: true, LockFiles: true, sentinel, cleanup);
    }

    /// <summary>The `Version:` of an installed `proxmox-backup-server` package in dpkg's status file, or null.</summary>
    public static string? InstalledPbsVersion(string statusFile = DpkgStatusFile)
    {
        try
        {
            if (!File.Exists(statusFile)) return null;
            string? package = null, status = null, version = null;
            foreach (var line in File.ReadLines(statusFile).Append(""))
            {
                if (line.Length == 0)
                {
                    if (package == "proxmox-backup-server" && status?.EndsWith(" installed", StringComparison.Ordinal) == true)
                        return version;
                    package = status = version = null;
                }
                else if (line.StartsWith("Package: ", StringComparison.Ordinal)) package = line[9..].Trim();
                else if (line.StartsWith("Status: ", StringComparison.Ordinal)) status = line[8..].Trim();
                else if (line.StartsWith("Version: ", StringComparison.Ordinal)) version = line[9..].Trim();
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return null;
    }

    /// <summary>Leading `major.minor.patch` of a Debian version (`3.3.5-1` → 3.3.5); a `~` pre-release counts as older.</summary>
    public static Version? ParseVersion(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var colon = text.IndexOf(':');
        if (colon >= 0) text = text[(colon + 1)..];
        var end = 0;
        while (end < text.Length && (char.IsAsciiDigit(text[end]) || text[end] == '.')) end++;
        var parts = text[..end].Split('.', StringSplitOptions.RemoveEmptyEntries).Select(p => int.TryParse(p, out var n) ? n : 0).ToList();
        if (parts.Count == 0) return null;
        while (parts.Count < 3) parts.Add(0);
        var v = new Version(parts[0], parts[1], parts[2]);
        // 3.3.5~rc1 sorts before 3.3.5 in Debian.
        if (end < text.Length && text[end] == '~') v = v.Build > 0 ? new Version(v.Major, v.Minor, v.Build - 1, int.MaxValue) : v;
        return v;
    }

    public override string ToString()
        => $"PBS {PbsVersion ?? "(not found)"}: {(DirectoryLocks && LockFiles ? "directory locks and lock files" : DirectoryLocks ? "directory locks (3.2 scheme)" : "lock files")}, cleanup {Cleanup}{(OldLockingSentinel ? ", old-locking sentinel present" : "")}";
}
