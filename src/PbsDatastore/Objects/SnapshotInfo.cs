using PbsDatastore.Core.Hierarchy;

namespace PbsDatastore.Objects;

/// <summary>A backup snapshot directory: finished (has a manifest) or not, protected or not.</summary>
public sealed class SnapshotInfo(BackupSnapshot snapshot) : IDatastoreItem
{
    /// <summary>The core object, for scripts that want its methods.</summary>
    public BackupSnapshot BackupSnapshot { get; } = snapshot;
    public Datastore Datastore => BackupSnapshot.Datastore;
    public string Namespace => BackupSnapshot.Namespace.Name;
    public string BackupType => BackupSnapshot.Type.ToPbsString();
    public string BackupId => BackupSnapshot.Id;
    /// <summary>Local time, as Get-Date gives it (a DateTime survives serialization; a DateTimeOffset does not).</summary>
    public DateTime BackupTime => DateTimeOffset.FromUnixTimeSeconds(BackupSnapshot.Time).LocalDateTime;
    /// <summary>The directory name, e.g. 2024-03-01T10:00:00Z.</summary>
    public string TimeString => BackupSnapshot.DirectoryName;
    public string Group => BackupSnapshot.Group.GroupName;
    public string Snapshot => BackupSnapshot.SnapshotName;
    public string Path => BackupSnapshot.FullPath;
    public bool Finished { get; init; }
    public bool Protected { get; init; }
    /// <summary>Archive files PBS lists for the snapshot (*.fidx, *.didx, *.blob, including the manifest).</summary>
    public string[] Files { get; init; } = [];
    /// <summary>Sum of the archive sizes the manifest records (null when unfinished or unreadable).</summary>
    public long? Size { get; init; }
    public string? Owner { get; init; }
    /// <summary>First line of the snapshot notes in the manifest.</summary>
    public string? Comment { get; init; }
    /// <summary>State of the last verification recorded in the manifest ("ok", "failed") or null.</summary>
    public string? Verification { get; init; }
    /// <summary>none, encrypt, sign-only or mixed, over the manifest's files.</summary>
    public string? CryptMode { get; init; }

    public override string ToString() => BackupSnapshot.ToString();
}
