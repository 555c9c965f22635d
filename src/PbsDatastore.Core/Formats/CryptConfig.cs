using System.Security.Cryptography;
using System.Text;

namespace PbsDatastore.Core.Formats;

/// <summary>
/// A 32-byte encryption key and what PBS derives from it: the id_key (PBKDF2-HMAC-SHA256 of the key, salt
/// <c>_id_key</c>, 10 rounds), the keyed chunk digest SHA-256(data ‖ id_key), HMAC-SHA256 signatures under the
/// id_key, and the key fingerprint SHA-256(SHA-256("Proxmox Backup Encryption Key Fingerprint") ‖ id_key).
/// </summary>
public sealed class CryptConfig
{
    public const int KeySize = 32;

    private static readonly byte[] FingerprintInput = SHA256.HashData("Proxmox Backup Encryption Key Fingerprint"u8);

    private readonly byte[] _key;
    private readonly byte[] _idKey;
    private readonly byte[] _fingerprint;

    /// <summary>Builds the config from the raw 32-byte key (as stored in a kdf-none key file).</summary>
    public CryptConfig(ReadOnlySpan<byte> key)
    {
        if (key.Length != KeySize)
            throw new PbsException("KeyBadLength", PbsErrorKind.InvalidArgument, $"encryption key must be {KeySize} bytes, got {key.Length}.");
        _key = key.ToArray();
        _idKey = Rfc2898DeriveBytes.Pbkdf2(_key, "_id_key"u8, 10, HashAlgorithmName.SHA256, KeySize);
        _fingerprint = SHA256.HashData([.. FingerprintInput, .. _idKey]);
        Fingerprint = FormatFingerprint(_fingerprint);
    }

    /// <summary>The raw AES-256 key.</summary>
    public ReadOnlySpan<byte> Key => _key;

    /// <summary>The derived id_key (digest salt and HMAC key).</summary>
    public ReadOnlySpan<byte> IdKey => _idKey;

    /// <summary>The 32 fingerprint bytes.</summary>
    public ReadOnlySpan<byte> FingerprintBytes => _fingerprint;

    /// <summary>Full fingerprint form: 32 lowercase hex pairs joined by <c>:</c> (as in key files and manifests).</summary>
    public string Fingerprint { get; }

    /// <summary>Short fingerprint ("key ID"): the first 8 bytes in the same notation (used in PBS's messages).</summary>
    public string ShortFingerprint => Fingerprint[..23];

    /// <summary>Chunk digest of data in an encrypted backup: SHA-256(data ‖ id_key).</summary>
    public byte[] ComputeDigest(ReadOnlySpan<byte> data)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(data);
        sha.AppendData(_idKey);
        return sha.GetHashAndReset();
    }

    /// <summary>HMAC-SHA256 under the id_key (manifest signatures).</summary>
    public byte[] ComputeAuthTag(ReadOnlySpan<byte> data) => HMACSHA256.HashData(_idKey, data);

    internal void Encrypt(ReadOnlySpan<byte> iv, ReadOnlySpan<byte> plain, Span<byte> cipher, Span<byte> tag) =>
        Gcm.Encrypt(_key, iv, plain, cipher, tag);

    internal bool TryDecrypt(ReadOnlySpan<byte> iv, ReadOnlySpan<byte> tag, ReadOnlySpan<byte> cipher, Span<byte> plain) =>
        Gcm.TryDecrypt(_key, iv, tag, cipher, plain);

    /// <summary>Formats fingerprint bytes as lowercase hex pairs joined by <c>:</c>.</summary>
    public static string FormatFingerprint(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder(bytes.Length * 3);
        foreach (var b in bytes)
        {
            if (sb.Length > 0) sb.Append(':');
            sb.Append(b.ToString("x2"));
        }
        return sb.ToString();
    }

    /// <summary>The short form (first 8 bytes) of a full fingerprint string.</summary>
    public static string ShortForm(string fingerprint) => fingerprint.Length > 23 ? fingerprint[..23] : fingerprint;

    /// <summary>Parses a fingerprint as PBS does: drop every <c>:</c>, hex-decode exactly 32 bytes (either case).</summary>
    public static bool TryParseFingerprint(string? text, out byte[] bytes)
    {
        bytes = [];
        if (text is null) return false;
        var hex = text.Replace(":", "");
        if (hex.Length != 2 * KeySize) return false;
        try
        {
            bytes = Convert.FromHexString(hex);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
