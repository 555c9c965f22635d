namespace PbsDatastore.Core.Formats;

/// <summary>The four DataBlob layouts, told apart by the 8-byte magic at offset 0.</summary>
public enum BlobKind
{
    /// <summary>Plain data after a 12-byte header (magic <c>42ab3807be8370a1</c>).</summary>
    Uncompressed,
    /// <summary>zstd frames after a 12-byte header (magic <c>31b958426fb6a37f</c>).</summary>
    Compressed,
    /// <summary>AES-256-GCM ciphertext of the data after a 44-byte header (magic <c>7b6785be222d4cf0</c>).</summary>
    Encrypted,
    /// <summary>AES-256-GCM ciphertext of a zstd frame after a 44-byte header (magic <c>e6591bbf0bbfd80b</c>).</summary>
    EncryptedCompressed,
}

/// <summary>Helpers on <see cref="BlobKind"/>.</summary>
public static class BlobKinds
{
    /// <summary>The name PBS's tools and the reference fixture use: uncompressed, compressed, encrypted, encrypted+compressed.</summary>
    public static string ToPbsName(this BlobKind kind) => kind switch
    {
        BlobKind.Uncompressed => "uncompressed",
        BlobKind.Compressed => "compressed",
        BlobKind.Encrypted => "encrypted",
        _ => "encrypted+compressed",
    };

    public static bool IsEncrypted(this BlobKind kind) => kind is BlobKind.Encrypted or BlobKind.EncryptedCompressed;

    public static bool IsCompressed(this BlobKind kind) => kind is BlobKind.Compressed or BlobKind.EncryptedCompressed;

    /// <summary>Header length: 12 for plain kinds (magic, CRC), 44 for encrypted kinds (magic, CRC, IV, tag).</summary>
    public static int HeaderSize(this BlobKind kind) => kind.IsEncrypted() ? DataBlob.EncryptedHeaderSize : DataBlob.PlainHeaderSize;

    /// <summary>Crypt mode of the data in a blob of this kind (none for plain, encrypt for encrypted).</summary>
    public static CryptMode CryptMode(this BlobKind kind) => kind.IsEncrypted() ? Formats.CryptMode.Encrypt : Formats.CryptMode.None;
}
