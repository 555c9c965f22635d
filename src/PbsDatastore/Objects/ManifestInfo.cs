using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;

namespace PbsDatastore.Objects;

/// <summary>A snapshot's manifest (index.json.blob): files, signature, key fingerprint and the unprotected part.</summary>
public sealed class ManifestInfo(BackupSnapshot snapshot, BackupManifest manifest, string text) : IDatastoreItem
{
    /// <summary>The snapshot the manifest belongs to (core object).</summary>
    public BackupSnapshot BackupSnapshot { get; } = snapshot;
    public Datastore Datastore => BackupSnapshot.Datastore;
    public string Namespace => BackupSnapshot.Namespace.Name;
    public string Snapshot => BackupSnapshot.SnapshotName;
    public string Path => BackupSnapshot.ManifestPath;
    /// <summary>The core object, for scripts that want its methods.</summary>
    public BackupManifest BackupManifest { get; } = manifest;
    /// <summary>backup-type, backup-id and backup-time as the manifest states them.</summary>
    public string BackupType => BackupManifest.BackupType;
    public string BackupId => BackupManifest.BackupId;
    public DateTime BackupTime => DateTimeOffset.FromUnixTimeSeconds(BackupManifest.BackupTime).LocalDateTime;
    public ManifestFileInfo[] Files { get; } = [.. manifest.Files.Select(f => new ManifestFileInfo(f))];
    public string? Signature => BackupManifest.Signature;
    public string? KeyFingerprint => BackupManifest.KeyFingerprint;
    public string? Notes => BackupManifest.Notes;
    public string? VerifyState => BackupManifest.VerifyState?.State;
    public string? VerifyUpid => BackupManifest.VerifyState?.Upid;
    /// <summary>The manifest's JSON exactly as stored (decoded blob).</summary>
    public string Text { get; } = text;

    public override string ToString() => BackupSnapshot.ToString();
}

/// <summary>One entry of a manifest's files list (crypt mode spelled as PBS spells it).</summary>
public sealed class ManifestFileInfo(ManifestFile file)
{
    public string Filename => file.Filename;
    public string CryptMode => file.CryptMode.ToPbsName();
    public long Size => (long)file.Size;
    public string Csum => file.Csum;

    public override string ToString() => Filename;
}
