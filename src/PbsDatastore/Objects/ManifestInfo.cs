using PbsDatastore.Core.Hierarchy;

namespace PbsDatastore.Objects;

/// <summary>A snapshot's manifest (index.json.blob): files, signature, key fingerprint and the unprotected part.</summary>
public sealed class ManifestInfo(BackupSnapshot snapshot) : IDatastoreItem
{
    /// <summary>The snapshot the manifest belongs to (core object).</summary>
    public BackupSnapshot BackupSnapshot { get; } = snapshot;
    public Datastore Datastore => BackupSnapshot.Datastore;
    public string Namespace => BackupSnapshot.Namespace.Name;
    public string Snapshot => BackupSnapshot.SnapshotName;
    public string Path => BackupSnapshot.ManifestPath;
    /// <summary>backup-type, backup-id and backup-time as the manifest states them.</summary>
    public required string BackupType { get; init; }
    public required string BackupId { get; init; }
    public required DateTimeOffset BackupTime { get; init; }
    public required ManifestFileInfo[] Files { get; init; }
    public string? Signature { get; init; }
    public string? KeyFingerprint { get; init; }
    public string? Notes { get; init; }
    public string? VerifyState { get; init; }
    public string? VerifyUpid { get; init; }
    /// <summary>The manifest's JSON exactly as stored (decoded blob).</summary>
    public required string Text { get; init; }

    public override string ToString() => BackupSnapshot.ToString();
}

/// <summary>One entry of a manifest's files list.</summary>
public sealed class ManifestFileInfo
{
    public required string Filename { get; init; }
    public required string CryptMode { get; init; }
    public required long Size { get; init; }
    public required string Csum { get; init; }

    public override string ToString() => Filename;
}
