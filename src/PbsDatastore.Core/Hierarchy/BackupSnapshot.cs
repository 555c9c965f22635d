using PbsDatastore.Core.Native;

namespace PbsDatastore.Core.Hierarchy;

/// <summary>
/// A snapshot directory `&lt;group&gt;/&lt;time&gt;`. <see cref="DirectoryName"/> is the name on disk; PBS's lenient
/// time parser can read a name whose canonical form differs (<see cref="IsCanonicalName"/> false): such a
/// snapshot is listed but must not be modified, because PBS rebuilds paths from the time.
/// </summary>
public sealed partial class BackupSnapshot : IEquatable<BackupSnapshot>
{
    public const string ManifestFileName = "index.json.blob";
    public const string ClientLogFileName = "client.log.blob";
    public const string ProtectedFileName = ".protected";

    internal BackupSnapshot(BackupGroup group, long time, string directoryName)
    {
        Group = group;
        Time = time;
        DirectoryName = directoryName;
    }

    public BackupGroup Group { get; }
    public Datastore Datastore => Group.Datastore;
    public BackupNamespace Namespace => Group.Namespace;
    public BackupType Type => Group.Type;
    public string Id => Group.Id;

    /// <summary>Backup time (epoch seconds).</summary>
    public long Time { get; }

    /// <summary>Canonical time string `YYYY-MM-DDTHH:MM:SSZ`.</summary>
    public string TimeString => BackupTime.Format(Time);

    /// <summary>The snapshot directory's name as found on disk.</summary>
    public string DirectoryName { get; }

    public bool IsCanonicalName => DirectoryName == TimeString;

    /// <summary>`&lt;type&gt;/&lt;id&gt;/&lt;time&gt;`.</summary>
    public string SnapshotName => $"{Group.GroupName}/{DirectoryName}";

    /// <summary>Path relative to the datastore root.</summary>
    public string RelativePath => $"{Group.RelativePath}/{DirectoryName}";

    public string FullPath => Path.Combine(Group.FullPath, DirectoryName);

    public string ManifestPath => Path.Combine(FullPath, ManifestFileName);

    public string ProtectedPath => Path.Combine(FullPath, ProtectedFileName);

    public bool Exists => FileSystemEntries.IsDirectory(FullPath);

    /// <summary>Finished: `index.json.blob` is among the snapshot's files.</summary>
    public bool IsFinished => FileSystemEntries.KindOf(ManifestPath) == EntryKind.RegularFile;

    /// <summary>Protected: `.protected` exists (a plain existence test that follows symlinks, as PBS's).</summary>
    public bool IsProtected => Libc.TryStat(ProtectedPath, out _) == 0;

    /// <summary>PBS's file list of a snapshot: regular files matching `*.fidx|*.didx|*.blob`, sorted by name.</summary>
    public IReadOnlyList<string> ListFiles()
        => FileSystemEntries.List(FullPath)
            .Where(e => e.Kind == EntryKind.RegularFile && PbsNames.BackupFile().IsMatch(e.Name))
            .Select(e => e.Name)
            .OrderBy(n => n, StringComparer.Ordinal)
            .ToList();

    /// <summary>Throws StrangeSnapshotName for a name PBS would resolve to a different directory.</summary>
    public void EnsureCanonicalName()
    {
        if (!IsCanonicalName)
            throw new PbsException("StrangeSnapshotName", PbsErrorKind.InvalidOperation,
                $"snapshot directory \"{FullPath}\" is not the canonical name of its time ({TimeString}); PBS would act on another path, refusing to modify it",
                FullPath);
    }

    public bool Equals(BackupSnapshot? other)
        => other is not null && Group.Equals(other.Group) && DirectoryName == other.DirectoryName;
    public override bool Equals(object? obj) => Equals(obj as BackupSnapshot);
    public override int GetHashCode() => HashCode.Combine(Group, DirectoryName);

    public override string ToString() => Namespace.IsRoot ? SnapshotName : $"{Namespace.Name}:{SnapshotName}";
}
