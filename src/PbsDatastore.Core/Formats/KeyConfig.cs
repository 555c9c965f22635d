using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Org.BouncyCastle.Crypto.Generators;

namespace PbsDatastore.Core.Formats;

/// <summary>How a key file protects its key: scrypt or PBKDF2-HMAC-SHA256 over the passphrase.</summary>
public enum KdfKind
{
    Scrypt,
    Pbkdf2,
}

/// <summary>Key-derivation parameters of a password-protected key file (N, r, p for scrypt; iterations for PBKDF2).</summary>
public sealed record KeyDerivation(KdfKind Kind, byte[] Salt, long N = 0, int R = 0, int P = 0, long Iterations = 0);

/// <summary>
/// A PBS key file (<c>KeyConfig</c> JSON): the 32-byte encryption key, in clear (<c>"kdf": null</c>) or encrypted with
/// AES-256-GCM under a key derived from a passphrase (scrypt or PBKDF2). <see cref="Load"/> reads it,
/// <see cref="Decrypt(ReadOnlySpan{char})"/> yields the <see cref="CryptConfig"/>. Errors: KeyFileNotFound,
/// KeyFileReadFailed, KeyFileInvalid, KeyPasswordRequired, KeyPasswordTooShort, KeyDecryptFailed, KeyFingerprintMismatch.
/// </summary>
public sealed class KeyConfig
{
    // PBS's own scrypt memory limit (1025 MiB); larger parameters cannot come from PBS and would exhaust memory.
    private const long ScryptMaxMemory = 1025L * 1024 * 1024;

    private KeyConfig(KeyDerivation? kdf, string created, string modified, byte[] data, string? fingerprint, string? hint, object? target)
    {
        Kdf = kdf;
        Created = created;
        Modified = modified;
        Data = data;
        Fingerprint = fingerprint;
        Hint = hint;
        Target = target;
    }

    /// <summary>Null when the key is stored in clear.</summary>
    public KeyDerivation? Kdf { get; }

    /// <summary>Creation time as written (RFC 3339 with offset).</summary>
    public string Created { get; }

    public string Modified { get; }

    /// <summary>Decoded <c>data</c>: the raw key (kdf none) or IV(16) ‖ tag(16) ‖ encrypted key.</summary>
    public byte[] Data { get; }

    /// <summary>Full fingerprint stored in the file, if any.</summary>
    public string? Fingerprint { get; }

    public string? Hint { get; }

    public object? Target { get; }

    public bool NeedsPassword => Kdf is not null;

    /// <summary>Reads and parses a key file (no decryption yet).</summary>
    public static KeyConfig Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new PbsException("KeyFileNotFound", PbsErrorKind.ObjectNotFound, $"key file not found: {path}", path, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PbsException("KeyFileReadFailed", e is UnauthorizedAccessException ? PbsErrorKind.PermissionDenied : PbsErrorKind.ReadError,
                $"unable to read key file {path} - {e.Message}", path, e);
        }
        return Parse(text, path);
    }

    /// <summary>Parses key-file JSON (members in any order).</summary>
    public static KeyConfig Parse(string json, object? target = null)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Bad("not a JSON object", target);
            var kdf = root.TryGetProperty("kdf", out var k) && k.ValueKind != JsonValueKind.Null ? ParseKdf(k, target) : null;
            var data = Convert.FromBase64String(RequiredString(root, "data", target));
            return new KeyConfig(kdf, RequiredString(root, "created", target), RequiredString(root, "modified", target), data,
                OptionalString(root, "fingerprint", target), OptionalString(root, "hint", target), target);
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            // .NET's base64 message names no field; the key file's base64 fields are these two.
            throw Bad(e is FormatException ? "'data' or 'salt' is not valid base64" : e.Message, target, e);
        }
    }

    /// <summary>Decrypts a key stored in clear (kdf none); a protected key needs a password.</summary>
    public CryptConfig Decrypt()
    {
        if (NeedsPassword)
            throw new PbsException("KeyPasswordRequired", PbsErrorKind.InvalidArgument, "the key file is password protected; a password is required", Target);
        return Decrypt(ReadOnlySpan<byte>.Empty);
    }

    /// <summary>Decrypts with a password given as characters (string, char[] or the contents of a SecureString); the UTF-8 copy is wiped afterwards.</summary>
    public CryptConfig Decrypt(ReadOnlySpan<char> password)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(password)];
        try
        {
            Encoding.UTF8.GetBytes(password, bytes);
            return Decrypt((ReadOnlySpan<byte>)bytes);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }
    }

    /// <summary>Decrypts with a UTF-8 passphrase (ignored for keys stored in clear).</summary>
    public CryptConfig Decrypt(ReadOnlySpan<byte> passphrase)
    {
        byte[] key;
        if (Kdf is null)
        {
            if (Data.Length != CryptConfig.KeySize)
                throw Bad($"key data must be {CryptConfig.KeySize} bytes, got {Data.Length}", Target);
            key = Data;
        }
        else
        {
            if (passphrase.Length < 5)
                throw new PbsException("KeyPasswordTooShort", PbsErrorKind.InvalidArgument, "Passphrase is too short!", Target);
            if (Data.Length < 32)
                throw Bad("Unable to decrypt key - short data", Target);
            var derived = DeriveKey(passphrase);
            key = new byte[Data.Length - 32];
            var ok = Gcm.TryDecrypt(derived, Data.AsSpan(0, 16), Data.AsSpan(16, 16), Data.AsSpan(32), key);
            CryptographicOperations.ZeroMemory(derived);
            if (!ok)
                throw new PbsException("KeyDecryptFailed", PbsErrorKind.SecurityError,
                    Hint is null ? "Unable to decrypt key (wrong password?)" : $"Unable to decrypt key (password hint: {Hint})", Target);
            if (key.Length != CryptConfig.KeySize)
                throw Bad($"decrypted key must be {CryptConfig.KeySize} bytes, got {key.Length}", Target);
        }

        var crypt = new CryptConfig(key);
        if (Fingerprint is not null)
        {
            if (!CryptConfig.TryParseFingerprint(Fingerprint, out var stored))
                throw Bad($"invalid fingerprint '{Fingerprint}'", Target);
            if (!stored.AsSpan().SequenceEqual(crypt.FingerprintBytes))
                throw new PbsException("KeyFingerprintMismatch", PbsErrorKind.InvalidData,
                    $"KeyConfig contains wrong fingerprint {CryptConfig.ShortForm(CryptConfig.FormatFingerprint(stored))}, contained key has fingerprint {crypt.ShortFingerprint}", Target);
        }
        return crypt;
    }

    private byte[] DeriveKey(ReadOnlySpan<byte> passphrase)
    {
        var kdf = Kdf!;
        return kdf.Kind == KdfKind.Scrypt
            ? SCrypt.Generate(passphrase.ToArray(), kdf.Salt, (int)kdf.N, kdf.R, kdf.P, CryptConfig.KeySize)
            : Rfc2898DeriveBytes.Pbkdf2(passphrase, kdf.Salt, (int)kdf.Iterations, HashAlgorithmName.SHA256, CryptConfig.KeySize);
    }

    private static KeyDerivation ParseKdf(JsonElement kdf, object? target)
    {
        if (kdf.ValueKind != JsonValueKind.Object) throw Bad("kdf must be null or an object", target);
        if (kdf.TryGetProperty("Scrypt", out var s) && s.ValueKind == JsonValueKind.Object)
        {
            var n = RequiredInt(s, "n", target);
            var r = RequiredInt(s, "r", target);
            var p = RequiredInt(s, "p", target);
            // scrypt needs N a power of two > 1, r, p >= 1, and uses 128·r·N bytes.
            if (n < 2 || (n & (n - 1)) != 0 || n > int.MaxValue || r < 1 || p < 1 || r > 1024 || p > 1024 || 128 * r * n > ScryptMaxMemory)
                throw Bad($"unsupported scrypt parameters n={n} r={r} p={p}", target);
            return new KeyDerivation(KdfKind.Scrypt, Convert.FromBase64String(RequiredString(s, "salt", target)), n, (int)r, (int)p);
        }
        if (kdf.TryGetProperty("PBKDF2", out var b) && b.ValueKind == JsonValueKind.Object)
        {
            var iter = RequiredInt(b, "iter", target);
            if (iter < 1 || iter > int.MaxValue) throw Bad($"unsupported PBKDF2 iteration count {iter}", target);
            return new KeyDerivation(KdfKind.Pbkdf2, Convert.FromBase64String(RequiredString(b, "salt", target)), Iterations: iter);
        }
        throw Bad("unknown kdf (expected Scrypt or PBKDF2)", target);
    }

    private static string RequiredString(JsonElement obj, string name, object? target) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Bad($"missing or invalid '{name}'", target);

    private static string? OptionalString(JsonElement obj, string name, object? target)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw Bad($"invalid '{name}'", target);
    }

    private static long RequiredInt(JsonElement obj, string name, object? target) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) ? n : throw Bad($"missing or invalid '{name}'", target);

    private static PbsException Bad(string message, object? target, Exception? inner = null) =>
        new("KeyFileInvalid", PbsErrorKind.InvalidData, $"invalid key file - {message}", target, inner);
}
