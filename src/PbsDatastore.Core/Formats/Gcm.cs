using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Modes;
using Org.BouncyCastle.Crypto.Parameters;

namespace PbsDatastore.Core.Formats;

/// <summary>
/// AES-256-GCM with PBS's 16-byte IV, empty AAD and 16-byte tag. .NET's AesGcm only takes 12-byte nonces, and a
/// 16-byte IV changes how GCM derives its first counter block, so BouncyCastle's GcmBlockCipher does the work.
/// </summary>
internal static class Gcm
{
    public const int IvSize = 16;
    public const int TagSize = 16;

    public static void Encrypt(ReadOnlySpan<byte> key, ReadOnlySpan<byte> iv, ReadOnlySpan<byte> plain, Span<byte> cipher, Span<byte> tag)
    {
        var gcm = Create(true, key, iv);
        var output = new byte[gcm.GetOutputSize(plain.Length)];
        var n = gcm.ProcessBytes(plain, output);
        gcm.DoFinal(output.AsSpan(n));
        output.AsSpan(0, plain.Length).CopyTo(cipher);
        output.AsSpan(plain.Length, TagSize).CopyTo(tag);
    }

    /// <summary>Decrypts and authenticates; false when the tag does not match (wrong key or damaged data).</summary>
    public static bool TryDecrypt(ReadOnlySpan<byte> key, ReadOnlySpan<byte> iv, ReadOnlySpan<byte> tag, ReadOnlySpan<byte> cipher, Span<byte> plain)
    {
        var gcm = Create(false, key, iv);
        var output = new byte[gcm.GetOutputSize(cipher.Length + TagSize)];
        try
        {
            var n = gcm.ProcessBytes(cipher, output);
            n += gcm.ProcessBytes(tag, output.AsSpan(n));
            gcm.DoFinal(output.AsSpan(n));
        }
        catch (InvalidCipherTextException)
        {
            return false;
        }
        output.AsSpan(0, cipher.Length).CopyTo(plain);
        return true;
    }

    private static GcmBlockCipher Create(bool forEncryption, ReadOnlySpan<byte> key, ReadOnlySpan<byte> iv)
    {
        var gcm = new GcmBlockCipher(AesUtilities.CreateEngine());
        gcm.Init(forEncryption, new AeadParameters(new KeyParameter(key), TagSize * 8, iv.ToArray()));
        return gcm;
    }
}
