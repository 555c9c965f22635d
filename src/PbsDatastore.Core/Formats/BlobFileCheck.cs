using System.Security.Cryptography;

namespace PbsDatastore.Core.Formats;

/// <summary>
/// What a chunk or blob file holds: its header facts and CRC (<see cref="Info"/>) and, once decoded, the plain
/// length, its SHA-256 and whether the digest its name states matches.
/// </summary>
/// <param name="Path">The file.</param>
/// <param name="Info">Header facts and CRC, read without decoding.</param>
/// <param name="Digest">The digest the file is named by (<c>DIGEST</c> or <c>DIGEST.N.bad</c>), lowercase; null otherwise.</param>
/// <param name="Bad">Whether the file is a chunk verify renamed to <c>.bad</c>.</param>
/// <param name="DecodedLength">Null when the data was not decoded (encrypted without a key, CRC or decoding failed).</param>
/// <param name="DecodedSha256">SHA-256 of the decoded data, lowercase hex.</param>
/// <param name="DigestOk">Null when no digest could be checked (not decoded, or not named by a digest).</param>
public sealed record BlobFileCheck(
    string Path,
    BlobInfo Info,
    string? Digest,
    bool Bad,
    long? DecodedLength,
    string? DecodedSha256,
    bool? DigestOk)
{
    private const string BadSuffix = ".bad";

    /// <summary>
    /// Reads a chunk or blob file once and, when its CRC holds and it can be decoded (a key for encrypted kinds),
    /// decodes it and checks the digest its name states. Failed checks (CRC, decryption, digest) are handed to
    /// <paramref name="problem"/> and the facts read so far are still returned; a file that is not a blob at all
    /// throws (BlobTooShort, BlobBadMagic, ...). <paramref name="raw"/> gives the bytes when they are not in the file
    /// at <paramref name="path"/> (an S3 store's chunk fetched from the bucket).
    /// </summary>
    public static BlobFileCheck Run(string path, CryptConfig? crypt, Action<PbsException> problem, byte[]? raw = null)
    {
        var blob = DataBlob.FromRaw(raw ?? DataBlob.ReadFile(path), path);
        var info = blob.Inspect();
        var name = System.IO.Path.GetFileName(path);
        var digest = name.Length >= 64 && ChunkDigest.TryParse(name.AsSpan(0, 64), out _)
                     && (name.Length == 64 || name.EndsWith(BadSuffix, StringComparison.Ordinal))
            ? name[..64].ToLowerInvariant()
            : null;
        long? decodedLength = null;
        string? decodedSha = null;
        bool? digestOk = null;
        try
        {
            blob.VerifyCrc();
            var encrypted = info.Kind.IsEncrypted();
            if (!encrypted || crypt != null)
            {
                var data = blob.Decode(crypt);
                decodedLength = data.Length;
                decodedSha = Convert.ToHexStringLower(SHA256.HashData(data));
                if (digest != null)
                {
                    digestOk = Convert.ToHexStringLower(DataBlob.ComputeDigest(data, encrypted ? crypt : null)) == digest;
                    if (digestOk == false)
                        problem(new PbsException("BlobDigestMismatch", PbsErrorKind.InvalidData, "detected chunk with wrong digest.", path));
                }
            }
        }
        catch (PbsException e)
        {
            problem(e);
        }
        return new BlobFileCheck(path, info, digest, name.EndsWith(BadSuffix, StringComparison.Ordinal), decodedLength, decodedSha, digestOk);
    }
}
