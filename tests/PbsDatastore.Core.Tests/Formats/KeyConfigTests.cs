using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Tests.Support;
using static PbsDatastore.Core.Tests.Formats.FormatFixtures;

namespace PbsDatastore.Core.Tests.Formats;

public class KeyConfigTests
{
    public static TheoryData<string> KeyFileNames => [.. Key["files"]!.AsObject().Select(f => f.Key)];

    [Theory]
    [MemberData(nameof(KeyFileNames))]
    public void KeyFileMatchesPbsFacts(string name)
    {
        var expected = Key["files"]![name]!.AsObject();
        var path = Path.Combine(ReferenceStore.FixturesDir, name);
        var key = KeyConfig.Load(path);

        Assert.Equal((string)expected["created"]!, key.Created);
        Assert.Equal((string)expected["modified"]!, key.Modified);
        Assert.Equal((string)expected["data"]!, Convert.ToBase64String(key.Data));
        Assert.Equal((string?)expected["fingerprint"], key.Fingerprint);
        if (expected["kdf"] is JsonObject kdf)
        {
            var scrypt = kdf["Scrypt"]!;
            Assert.Equal(KdfKind.Scrypt, key.Kdf!.Kind);
            Assert.Equal((long)scrypt["n"]!, key.Kdf.N);
            Assert.Equal((int)scrypt["r"]!, key.Kdf.R);
            Assert.Equal((int)scrypt["p"]!, key.Kdf.P);
            Assert.Equal((string)scrypt["salt"]!, Convert.ToBase64String(key.Kdf.Salt));
            Assert.True(key.NeedsPassword);
        }
        else
        {
            Assert.Null(key.Kdf);
        }

        var crypt = key.NeedsPassword ? key.Decrypt(ReferenceStore.ScryptPassword) : key.Decrypt();
        CheckFixtureKey(crypt);
    }

    [Fact]
    public void PasswordsAsStringCharsOrBytesGiveTheSameKey()
    {
        var key = KeyConfig.Load(ReferenceStore.ScryptKeyFile);
        CheckFixtureKey(key.Decrypt(ReferenceStore.ScryptPassword.ToCharArray()));
        CheckFixtureKey(key.Decrypt(Encoding.UTF8.GetBytes(ReferenceStore.ScryptPassword)));
    }

    [Fact]
    public void WrongPasswordsGiveClearErrors()
    {
        var key = KeyConfig.Load(ReferenceStore.ScryptKeyFile);
        var wrong = Assert.Throws<PbsException>(() => key.Decrypt("wrong-pass"));
        Assert.Equal(("KeyDecryptFailed", PbsErrorKind.SecurityError), (wrong.ErrorId, wrong.Kind));
        Assert.Contains("wrong password", wrong.Message);
        Assert.Equal(ReferenceStore.ScryptKeyFile, wrong.Target);
        Assert.Equal("KeyPasswordTooShort", Assert.Throws<PbsException>(() => key.Decrypt("abcd")).ErrorId);
        Assert.Equal("KeyPasswordRequired", Assert.Throws<PbsException>(() => key.Decrypt()).ErrorId);
    }

    [Fact]
    public void Pbkdf2KeyFileDecrypts()
    {
        // No PBS-written PBKDF2 file exists in the fixture: build one the way §2.8 describes (65535 rounds).
        var salt = RandomNumberGenerator.GetBytes(32);
        var derived = Rfc2898DeriveBytes.Pbkdf2("pbkdf2-pass"u8, salt, 65535, HashAlgorithmName.SHA256, 32);
        var iv = RandomNumberGenerator.GetBytes(16);
        var data = new byte[64];
        iv.CopyTo(data, 0);
        Gcm.Encrypt(derived, iv, Convert.FromHexString((string)Key["raw_key_hex"]!), data.AsSpan(32), data.AsSpan(16, 16));
        var json = $$$"""{"kdf":{"PBKDF2":{"iter":65535,"salt":"{{{Convert.ToBase64String(salt)}}}"}},"created":"2024-02-28T09:00:00+00:00","modified":"2024-02-28T09:00:00+00:00","data":"{{{Convert.ToBase64String(data)}}}","fingerprint":"{{{(string)Key["fingerprint"]!}}}","hint":"the usual"}""";

        var key = KeyConfig.Parse(json, "pbkdf2.json");
        Assert.Equal(KdfKind.Pbkdf2, key.Kdf!.Kind);
        Assert.Equal(65535, key.Kdf.Iterations);
        CheckFixtureKey(key.Decrypt("pbkdf2-pass"));
        var e = Assert.Throws<PbsException>(() => key.Decrypt("other-pass"));
        Assert.Equal("Unable to decrypt key (password hint: the usual)", e.Message);
    }

    [Fact]
    public void MalformedKeyFilesAreRejected()
    {
        var good = File.ReadAllText(ReferenceStore.KeyFile);
        foreach (var text in new[] { "", "[]", "{", "{\"kdf\":null}", good.Replace("\"data\":\"", "\"data\":\"!"), good.Replace("\"kdf\":null", "\"kdf\":{\"Argon\":{}}"),
                     good.Replace("\"kdf\":null", "\"kdf\":{\"Scrypt\":{\"n\":3,\"r\":8,\"p\":1,\"salt\":\"\"}}"), good.Replace("QzO7", "AAAA") })
        {
            var e = Assert.Throws<PbsException>(() => KeyConfig.Parse(text, "k").Decrypt());
            Assert.Contains(e.ErrorId, new[] { "KeyFileInvalid", "KeyFingerprintMismatch" });
        }
        Assert.Equal("KeyFingerprintMismatch", Assert.Throws<PbsException>(() => KeyConfig.Parse(good.Replace("QzO7", "AAAA")).Decrypt()).ErrorId);
        Assert.Equal("KeyFileNotFound", Assert.Throws<PbsException>(() => KeyConfig.Load("/nonexistent/key.json")).ErrorId);
    }

    [Fact]
    public void FingerprintForms()
    {
        Assert.True(CryptConfig.TryParseFingerprint(((string)Key["fingerprint"]!).ToUpperInvariant(), out var bytes));
        Assert.Equal((string)Key["fingerprint_bytes_hex"]!, Hex(bytes));
        Assert.Equal((string)Key["fingerprint"]!, CryptConfig.FormatFingerprint(bytes));
        Assert.Equal((string)Key["fingerprint_short"]!, CryptConfig.ShortForm((string)Key["fingerprint"]!));
        Assert.False(CryptConfig.TryParseFingerprint("e0:bb", out _));
        Assert.False(CryptConfig.TryParseFingerprint(new string('g', 64), out _));
    }

    private static void CheckFixtureKey(CryptConfig crypt)
    {
        Assert.Equal((string)Key["raw_key_hex"]!, Hex(crypt.Key));
        Assert.Equal((string)Key["id_key_hex"]!, Hex(crypt.IdKey));
        Assert.Equal((string)Key["fingerprint"]!, crypt.Fingerprint);
        Assert.Equal((string)Key["fingerprint_bytes_hex"]!, Hex(crypt.FingerprintBytes));
        Assert.Equal((string)Key["fingerprint_short"]!, crypt.ShortFingerprint);
    }
}
