using System.Buffers.Binary;
using System.IO.Hashing;
using System.Security.Cryptography;

namespace PbsDatastore.Core.Formats;

/// <summary>
/// A DataBlob: the on-disk form of every chunk and every <c>*.blob</c> file (including <c>index.json.blob</c>).
/// Layout: 8-byte magic, CRC-32 (little-endian) of the bytes after the header, then for encrypted kinds a 16-byte IV
/// and 16-byte GCM tag (header 44 bytes, else 12), then the payload. Instances hold the raw bytes and are immutable.
/// <para>Typical use: <see cref="Load"/> (size, magic and CRC checked) then <see cref="Decode"/>; <see cref="Inspect(string)"/>
/// for a cheap look at header and CRC; <see cref="Encode(ReadOnlySpan{byte}, CryptConfig?, bool)"/> to write.</para>
/// All failures on bad input are <see cref="PbsException"/>s with ErrorIds BlobTooShort, BlobBadMagic, BlobCrcMismatch,
/// BlobNeedsKey, BlobDecryptFailed, BlobDecompressFailed, BlobDigestMismatch, BlobSizeMismatch, BlobTooLarge,
/// BlobNotFound, BlobReadFailed.
/// </summary>
public sealed class DataBlob
{
    public const int PlainHeaderSize = 12;
    public const int EncryptedHeaderSize = 44;

    /// <summary>PBS refuses to encode more than 128 MiB; nothing larger can come from PBS, so decoding stops there too.</summary>
    public const int MaxDataSize = 128 * 1024 * 1024;

    /// <summary>Largest file a PBS-written blob can be (data limit plus the encrypted header).</summary>
    public const int MaxRawSize = MaxDataSize + EncryptedHeaderSize;

    private static readonly ulong MagicUncompressed = Magic(0x42, 0xab, 0x38, 0x07, 0xbe, 0x83, 0x70, 0xa1);
    private static readonly ulong MagicCompressed = Magic(0x31, 0xb9, 0x58, 0x42, 0x6f, 0xb6, 0xa3, 0x7f);
    private static readonly ulong MagicEncrypted = Magic(0x7b, 0x67, 0x85, 0xbe, 0x22, 0x2d, 0x4c, 0xf0);
    private static readonly ulong MagicEncryptedCompressed = Magic(0xe6, 0x59, 0x1b, 0xbf, 0x0b, 0xbf, 0xd8, 0x0b);

    private readonly byte[] _raw;

    private DataBlob(byte[] raw, BlobKind kind, object? target)
    {
        _raw = raw;
        Kind = kind;
        Target = target;
    }

    public BlobKind Kind { get; }

    /// <summary>The resource named in errors (file path or digest), if known.</summary>
    public object? Target { get; }

    /// <summary>The complete encoded blob (what is stored on disk).</summary>
    public ReadOnlySpan<byte> Raw => _raw;

    public int HeaderSize => Kind.HeaderSize();

    /// <summary>Bytes after the header: raw data, zstd frames or ciphertext.</summary>
    public ReadOnlySpan<byte> Payload => _raw.AsSpan(HeaderSize);

    public uint StoredCrc => BinaryPrimitives.ReadUInt32LittleEndian(_raw.AsSpan(8));

    /// <summary>CRC-32 of the payload (the bytes the stored CRC covers).</summary>
    public uint ComputeCrc() => Crc32.HashToUInt32(Payload);

    /// <summary>The 16-byte IV of an encrypted blob; empty for plain kinds.</summary>
    public ReadOnlySpan<byte> Iv => Kind.IsEncrypted() ? _raw.AsSpan(12, Gcm.IvSize) : default;

    /// <summary>The 16-byte GCM tag of an encrypted blob; empty for plain kinds.</summary>
    public ReadOnlySpan<byte> Tag => Kind.IsEncrypted() ? _raw.AsSpan(28, Gcm.TagSize) : default;

    /// <summary>The blob kind for a magic, or null if the 8 bytes are no blob magic.</summary>
    public static BlobKind? KindOf(ReadOnlySpan<byte> magic)
    {
        if (magic.Length < 8) return null;
        var m = BinaryPrimitives.ReadUInt64LittleEndian(magic);
        if (m == MagicUncompressed) return BlobKind.Uncompressed;
        if (m == MagicCompressed) return BlobKind.Compressed;
        if (m == MagicEncrypted) return BlobKind.Encrypted;
        if (m == MagicEncryptedCompressed) return BlobKind.EncryptedCompressed;
        return null;
    }

    /// <summary>The 8 magic bytes of a blob kind.</summary>
    public static byte[] MagicOf(BlobKind kind)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, kind switch
        {
            BlobKind.Uncompressed => MagicUncompressed,
            BlobKind.Compressed => MagicCompressed,
            BlobKind.Encrypted => MagicEncrypted,
            _ => MagicEncryptedCompressed,
        });
        return bytes;
    }

    /// <summary>
    /// Wraps raw bytes after checking length and magic (PBS's <c>from_raw</c>); the CRC is not checked here
    /// (<see cref="VerifyCrc"/>). The array is kept, not copied.
    /// </summary>
    public static DataBlob FromRaw(byte[] raw, object? target = null)
    {
        if (raw.Length < PlainHeaderSize)
            throw Invalid("BlobTooShort", $"blob too small ({raw.Length} bytes).", target);
        var kind = KindOf(raw) ?? throw Invalid("BlobBadMagic", "unable to parse raw blob - wrong magic", target);
        if (kind.IsEncrypted() && raw.Length < EncryptedHeaderSize)
            throw Invalid("BlobTooShort", $"encrypted blob too small ({raw.Length} bytes).", target);
        if (raw.Length > MaxRawSize)
            throw Invalid("BlobTooLarge", $"blob too large ({raw.Length} bytes).", target);
        return new DataBlob(raw, kind, target);
    }

    /// <summary>Reads a blob file and checks length, magic and CRC (PBS's <c>load_from_reader</c>).</summary>
    public static DataBlob Load(string path)
    {
        var blob = FromRaw(ReadFile(path), path);
        blob.VerifyCrc();
        return blob;
    }

    /// <summary>Throws BlobCrcMismatch unless the stored CRC matches the payload.</summary>
    public void VerifyCrc()
    {
        if (StoredCrc != ComputeCrc())
            throw Invalid("BlobCrcMismatch", "Data blob has wrong CRC checksum.", Target);
    }

    /// <summary>Header facts and CRC of a blob file without decoding it; a CRC mismatch is reported, not thrown.</summary>
    public static BlobInfo Inspect(string path) => FromRaw(ReadFile(path), path).Inspect();

    /// <summary>Header facts and CRC of this blob without decoding it.</summary>
    public BlobInfo Inspect() => new(
        Kind,
        _raw.Length,
        HeaderSize,
        StoredCrc,
        ComputeCrc(),
        Kind is BlobKind.Uncompressed or BlobKind.Encrypted ? Payload.Length : null,
        Kind.IsEncrypted() ? Iv.ToArray() : null,
        Kind.IsEncrypted() ? Tag.ToArray() : null);

    /// <summary>
    /// Decodes the data (PBS's <c>decode</c>): decrypts with <paramref name="crypt"/> for encrypted kinds, decompresses
    /// compressed kinds, and when <paramref name="expectedDigest"/> is given checks the chunk digest (plain SHA-256, or
    /// the keyed digest for encrypted kinds). Does not re-check the CRC.
    /// </summary>
    public byte[] Decode(CryptConfig? crypt = null, ReadOnlySpan<byte> expectedDigest = default)
    {
        byte[] data;
        if (Kind.IsEncrypted())
        {
            if (crypt is null)
                throw new PbsException("BlobNeedsKey", PbsErrorKind.InvalidOperation, "unable to decrypt blob - missing CryptConfig", Target);
            var plain = new byte[Payload.Length];
            if (!crypt.TryDecrypt(Iv, Tag, Payload, plain))
                throw new PbsException("BlobDecryptFailed", PbsErrorKind.SecurityError,
                    $"unable to decrypt blob with key {crypt.ShortFingerprint} - wrong key or corrupted data", Target);
            data = Kind == BlobKind.EncryptedCompressed ? Decompress(plain) : plain;
        }
        else
        {
            data = Kind == BlobKind.Compressed ? Decompress(Payload) : Payload.ToArray();
        }

        if (!expectedDigest.IsEmpty && !ComputeDigest(data, Kind.IsEncrypted() ? crypt : null).AsSpan().SequenceEqual(expectedDigest))
            throw Invalid("BlobDigestMismatch", "detected chunk with wrong digest.", Target);
        return data;
    }

    /// <summary>As <see cref="Decode(CryptConfig?, ReadOnlySpan{byte})"/> with the digest an index entry or chunk name gives.</summary>
    public byte[] Decode(CryptConfig? crypt, ChunkDigest expectedDigest)
    {
        Span<byte> digest = stackalloc byte[ChunkDigest.Size];
        expectedDigest.WriteTo(digest);
        return Decode(crypt, digest);
    }

    /// <summary>
    /// PBS's <c>verify_unencrypted</c> (chunk upload and verify): encrypted blobs pass unchecked (no key on the
    /// server); plain blobs are decoded and must match digest and length.
    /// </summary>
    public void VerifyUnencrypted(long expectedSize, ReadOnlySpan<byte> expectedDigest)
    {
        if (Kind.IsEncrypted()) return;
        var data = Decode(null, expectedDigest);
        if (data.Length != expectedSize)
            throw Invalid("BlobSizeMismatch", $"detected chunk with wrong length ({expectedSize} != {data.Length})", Target);
    }

    /// <summary>As <see cref="VerifyUnencrypted(long, ReadOnlySpan{byte})"/> with a <see cref="ChunkDigest"/>.</summary>
    public void VerifyUnencrypted(long expectedSize, ChunkDigest expectedDigest)
    {
        Span<byte> digest = stackalloc byte[ChunkDigest.Size];
        expectedDigest.WriteTo(digest);
        VerifyUnencrypted(expectedSize, digest);
    }

    /// <summary>Chunk digest of plaintext: SHA-256(data), or SHA-256(data ‖ id_key) when a key is given.</summary>
    public static byte[] ComputeDigest(ReadOnlySpan<byte> data, CryptConfig? crypt) =>
        crypt is null ? SHA256.HashData(data) : crypt.ComputeDigest(data);

    /// <summary>
    /// Encodes data as PBS 3.2.4's <c>DataBlob::encode</c> does: with <paramref name="compress"/>, zstd level 1
    /// (streaming framing without content size for plain blobs, single-shot framing with content size for
    /// encrypted ones), kept only if strictly shorter than the data; encrypted with a fresh random IV when
    /// <paramref name="crypt"/> is given.
    /// </summary>
    public static DataBlob Encode(ReadOnlySpan<byte> data, CryptConfig? crypt, bool compress)
    {
        if (crypt is null) return Encode(data, null, compress, default);
        Span<byte> iv = stackalloc byte[Gcm.IvSize];
        RandomNumberGenerator.Fill(iv);
        return Encode(data, crypt, compress, iv);
    }

    /// <summary>
    /// As <see cref="Encode(ReadOnlySpan{byte}, CryptConfig?, bool)"/> with a caller-chosen 16-byte IV for
    /// encrypted blobs (byte-exact tests and re-encoding); <paramref name="iv"/> is ignored without a key.
    /// </summary>
    public static DataBlob Encode(ReadOnlySpan<byte> data, CryptConfig? crypt, bool compress, ReadOnlySpan<byte> iv)
    {
        if (data.Length > MaxDataSize)
            throw new PbsException("BlobTooLarge", PbsErrorKind.InvalidArgument, $"data blob too large ({data.Length} bytes).");

        if (crypt is null)
        {
            // The frame is written behind room for the header: the blob needs no second copy of it.
            var compressed = compress ? Zstd.CompressStreaming(data, PlainHeaderSize) : null;
            if (compressed is not null && compressed.Length - PlainHeaderSize < data.Length)
                return Finish(compressed, BlobKind.Compressed);
            var raw = GC.AllocateUninitializedArray<byte>(PlainHeaderSize + data.Length);
            data.CopyTo(raw.AsSpan(PlainHeaderSize));
            return Finish(raw, BlobKind.Uncompressed);
        }

        if (iv.Length != Gcm.IvSize)
            throw new ArgumentException($"IV must be {Gcm.IvSize} bytes", nameof(iv));
        var bulk = compress ? Zstd.CompressBulk(data) : null;
        var useBulk = bulk is not null && bulk.Length < data.Length;
        var plain = useBulk ? bulk : data;
        var blob = new byte[EncryptedHeaderSize + plain.Length];
        iv.CopyTo(blob.AsSpan(12, Gcm.IvSize));
        crypt.Encrypt(iv, plain, blob.AsSpan(EncryptedHeaderSize), blob.AsSpan(28, Gcm.TagSize));
        return Finish(blob, useBulk ? BlobKind.EncryptedCompressed : BlobKind.Encrypted);
    }

    private static DataBlob Finish(byte[] raw, BlobKind kind)
    {
        MagicOf(kind).CopyTo(raw, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(raw.AsSpan(8), Crc32.HashToUInt32(raw.AsSpan(kind.HeaderSize())));
        return new DataBlob(raw, kind, null);
    }

    private byte[] Decompress(ReadOnlySpan<byte> frames) =>
        Zstd.TryDecompress(frames, MaxDataSize, Target)
        ?? throw Invalid("BlobDecompressFailed", "unable to decompress blob - invalid or truncated zstd data", Target);

    internal static byte[] ReadFile(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.None);
            var length = stream.Length;
            if (length > MaxRawSize)
                throw Invalid("BlobTooLarge", $"blob too large ({length} bytes).", path);
            var raw = new byte[length];
            stream.ReadExactly(raw);
            return raw;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new PbsException("BlobNotFound", PbsErrorKind.ObjectNotFound, $"blob file not found: {path}", path, e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new PbsException("BlobReadFailed", PbsErrorKind.PermissionDenied, $"unable to read blob {path} - {e.Message}", path, e);
        }
        catch (IOException e)
        {
            throw new PbsException("BlobReadFailed", PbsErrorKind.ReadError, $"unable to read blob {path} - {e.Message}", path, e);
        }
    }

    private static PbsException Invalid(string errorId, string message, object? target) =>
        new(errorId, PbsErrorKind.InvalidData, message, target);

    private static ulong Magic(params byte[] bytes) => BinaryPrimitives.ReadUInt64LittleEndian(bytes);
}
