using PbsDatastore.Core.Formats;

namespace PbsDatastore.Objects;

/// <summary>
/// What a chunk (or blob) file holds: kind by magic, sizes, stored and computed CRC, and, once decoded, the
/// plain length, its SHA-256 and whether the digest matches the file name.
/// </summary>
public sealed class ChunkInfo
{
    /// <summary>The digest the file is named by (null for a file outside the chunk naming scheme).</summary>
    public string? Digest { get; init; }
    public required string Path { get; init; }
    /// <summary>uncompressed, compressed, encrypted or encrypted+compressed.</summary>
    public required string Kind { get; init; }
    public required string Magic { get; init; }
    public required long FileSize { get; init; }
    public required int PayloadOffset { get; init; }
    public required uint CrcStored { get; init; }
    public required uint CrcComputed { get; init; }
    public string? Iv { get; init; }
    public string? Tag { get; init; }
    /// <summary>True for a chunk verify renamed to &lt;digest&gt;.N.bad.</summary>
    public bool Bad { get; init; }
    /// <summary>Null when the data was not decoded (encrypted and no key given, CRC or decoding failed).</summary>
    public long? DecodedLength { get; init; }
    public string? DecodedSha256 { get; init; }
    /// <summary>Null when no digest could be checked (not decoded, or the file is not named by a digest).</summary>
    public bool? DigestOk { get; init; }

    public bool CrcOk => CrcStored == CrcComputed;
    public bool Encrypted => Kind.StartsWith("encrypted", StringComparison.Ordinal);

    public override string ToString() => Digest ?? Path;

    /// <summary>The output object of a core file check.</summary>
    public static ChunkInfo From(BlobFileCheck check) => new()
    {
        Digest = check.Digest,
        Path = check.Path,
        Kind = check.Info.Kind.ToPbsName(),
        Magic = Convert.ToHexStringLower(DataBlob.MagicOf(check.Info.Kind)),
        FileSize = check.Info.FileSize,
        PayloadOffset = check.Info.HeaderSize,
        CrcStored = check.Info.StoredCrc,
        CrcComputed = check.Info.ComputedCrc,
        Iv = check.Info.Iv is null ? null : Convert.ToHexStringLower(check.Info.Iv),
        Tag = check.Info.Tag is null ? null : Convert.ToHexStringLower(check.Info.Tag),
        Bad = check.Bad,
        DecodedLength = check.DecodedLength,
        DecodedSha256 = check.DecodedSha256,
        DigestOk = check.DigestOk,
    };
}
