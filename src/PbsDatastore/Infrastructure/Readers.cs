using System.Security.Cryptography;
using System.Text;
using PbsDatastore.Core;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Objects;

namespace PbsDatastore.Infrastructure;

/// <summary>Reads what the output objects show about a group or snapshot (owner, notes, manifest facts).</summary>
internal static class Readers
{
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

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
    {
        var path = snapshot.ManifestPath;
        var data = DataBlob.Load(path).Decode();
        var manifest = BackupManifest.Parse(data, path);
        try
        {
            return new ManifestInfo(snapshot, manifest, StrictUtf8.GetString(data));
        }
        catch (DecoderFallbackException e)
        {
            throw new PbsException("ManifestInvalid", PbsErrorKind.InvalidData, $"manifest \"{path}\" is not valid UTF-8", path, e);
        }
    }

    /// <summary>
    /// Inspects a chunk or blob file and, when its CRC holds and it can be decoded (a key for encrypted kinds),
    /// decodes it and checks the digest its name states. Failed checks are handed to <paramref name="problem"/>;
    /// a file that is not a blob at all throws.
    /// </summary>
    public static ChunkInfo Chunk(string path, CryptConfig? crypt, Action<PbsException> problem, byte[]? raw = null)
    {
        // raw: the chunk's bytes when they are not in the file at path (an S3 store's evicted chunk).
        var info = raw is null ? DataBlob.Inspect(path) : DataBlob.FromRaw(raw, path).Inspect();
        var name = System.IO.Path.GetFileName(path);
        string? digest = name.Length >= 64 && ChunkDigest.TryParse(name.AsSpan(0, 64), out _) && (name.Length == 64 || name.EndsWith(".bad", StringComparison.Ordinal))
            ? name[..64].ToLowerInvariant()
            : null;
        long? decodedLength = null;
        string? decodedSha = null;
        bool? digestOk = null;
        try
        {
            var blob = raw is null ? DataBlob.Load(path) : DataBlob.FromRaw(raw, path);
            if (raw is not null) blob.VerifyCrc(); // Load checked it
            if (!info.Kind.IsEncrypted() || crypt != null)
            {
                var data = blob.Decode(crypt);
                decodedLength = data.Length;
                decodedSha = Convert.ToHexStringLower(SHA256.HashData(data));
                if (digest != null)
                {
                    digestOk = Convert.ToHexStringLower(DataBlob.ComputeDigest(data, info.Kind.IsEncrypted() ? crypt : null)) == digest;
                    if (digestOk == false)
                        problem(new PbsException("BlobDigestMismatch", PbsErrorKind.InvalidData, "detected chunk with wrong digest.", path));
                }
            }
        }
        catch (PbsException e)
        {
            problem(e);
        }
        return new ChunkInfo
        {
            Digest = digest,
            Path = path,
            Kind = info.Kind.ToPbsName(),
            Magic = Convert.ToHexStringLower(DataBlob.MagicOf(info.Kind)),
            FileSize = info.FileSize,
            PayloadOffset = info.HeaderSize,
            CrcStored = info.StoredCrc,
            CrcComputed = info.ComputedCrc,
            Iv = info.Iv is null ? null : Convert.ToHexStringLower(info.Iv),
            Tag = info.Tag is null ? null : Convert.ToHexStringLower(info.Tag),
            Bad = name.EndsWith(".bad", StringComparison.Ordinal),
            DecodedLength = decodedLength,
            DecodedSha256 = decodedSha,
            DigestOk = digestOk,
        };
    }
}
