using PbsDatastore.Core;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Objects;

namespace PbsDatastore.Infrastructure;

/// <summary>Reads what the output objects show about a group or snapshot (owner, notes, manifest facts).</summary>
internal static class Readers
{
    /// <summary>
    /// A group with its owner, notes and last backup. Notes that cannot be read (not UTF-8, say) are handed to
    /// <paramref name="problem"/> and the group is still returned without them.
    /// </summary>
    public static BackupGroupInfo Group(BackupGroup group, Action<PbsException> problem)
    {
        var last = group.LastSuccessfulBackup();
        string? notes = null;
        try { notes = group.ReadNotes(); }
        catch (PbsException e) { problem(e); }
        return new BackupGroupInfo(group)
        {
            Owner = group.ReadOwner()?.ToString(),
            Notes = notes,
            SnapshotCount = group.ListSnapshots().Count(),
            LastBackup = last is long t ? DateTimeOffset.FromUnixTimeSeconds(t).LocalDateTime : null,
        };
    }

    /// <summary>
    /// A snapshot with the facts its manifest adds (size, notes, verify state, crypt mode). A manifest that cannot
    /// be read is handed to <paramref name="problem"/> and the snapshot is still returned without those facts.
    /// </summary>
    public static SnapshotInfo Snapshot(BackupSnapshot snapshot, string? owner, Action<PbsException> problem)
    {
        var finished = snapshot.IsFinished;
        ManifestInfo? manifest = null;
        if (finished)
        {
            try { manifest = Manifest(snapshot); }
            catch (PbsException e) { problem(e); }
        }
        var modes = manifest?.Files.Select(f => f.CryptMode).Distinct().ToList();
        return new SnapshotInfo(snapshot)
        {
            Finished = finished,
            Protected = snapshot.IsProtected,
            Files = [.. snapshot.ListFiles()],
            Owner = owner,
            Size = manifest?.Files.Sum(f => f.Size),
            Comment = manifest?.Notes?.Split('\n', 2)[0],
            Verification = manifest?.VerifyState,
            CryptMode = modes is null || modes.Count == 0 ? null : modes.Count == 1 ? modes[0] : "mixed",
        };
    }

    /// <summary>The manifest of a finished snapshot, with its exact stored text.</summary>
    public static ManifestInfo Manifest(BackupSnapshot snapshot)
        => new(snapshot, BackupManifest.Load(snapshot.ManifestPath, out var text), text);
}
