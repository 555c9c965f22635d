using PbsDatastore.Core.Hierarchy;

namespace PbsDatastore.Objects;

/// <summary>A backup group (type/id in a namespace) with its owner, notes and last successful backup.</summary>
public sealed class BackupGroupInfo(BackupGroup group) : IDatastoreItem
{
    /// <summary>The core object, for scripts that want its methods.</summary>
    public BackupGroup BackupGroup { get; } = group;
    public Datastore Datastore => BackupGroup.Datastore;
    public string Namespace => BackupGroup.Namespace.Name;
    public string BackupType => BackupGroup.Type.ToPbsString();
    public string BackupId => BackupGroup.Id;
    public string Group => BackupGroup.GroupName;
    public string Path => BackupGroup.FullPath;
    /// <summary>Owner Auth-ID from the owner file; null when the file is missing.</summary>
    public string? Owner { get; init; }
    /// <summary>Group notes as stored (null when there is no notes file).</summary>
    public string? Notes { get; init; }
    public int SnapshotCount { get; init; }
    /// <summary>Backup time (local) of the newest finished snapshot (PBS's "last successful backup").</summary>
    public DateTime? LastBackup { get; init; }
    /// <summary>First line of the notes, as PBS shows it as the group comment.</summary>
    public string? Comment => Notes?.Split('\n', 2)[0];

    public override string ToString() => BackupGroup.ToString();
}
