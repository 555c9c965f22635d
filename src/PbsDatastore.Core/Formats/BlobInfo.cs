namespace PbsDatastore.Core.Formats;

/// <summary>What a blob's header says, obtained without decoding (see <see cref="DataBlob.Inspect()"/>).</summary>
/// <param name="Kind">Kind from the magic.</param>
/// <param name="FileSize">Length of the whole encoded blob.</param>
/// <param name="HeaderSize">12 or 44.</param>
/// <param name="StoredCrc">CRC-32 stored in the header.</param>
/// <param name="ComputedCrc">CRC-32 of the bytes after the header.</param>
/// <param name="DecodedSize">Data length where it is known without decoding (uncompressed kinds), else null.</param>
/// <param name="Iv">IV of an encrypted blob, else null.</param>
/// <param name="Tag">GCM tag of an encrypted blob, else null.</param>
public sealed record BlobInfo(
    BlobKind Kind,
    long FileSize,
    int HeaderSize,
    uint StoredCrc,
    uint ComputedCrc,
    long? DecodedSize,
    byte[]? Iv,
    byte[]? Tag)
{
    public bool CrcOk => StoredCrc == ComputedCrc;

    public long PayloadSize => FileSize - HeaderSize;

    public CryptMode CryptMode => Kind.CryptMode();
}
