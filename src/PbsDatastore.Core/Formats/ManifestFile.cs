namespace PbsDatastore.Core.Formats;

/// <summary>
/// One archive listed in a manifest's <c>files</c>. For indexes <see cref="Size"/> is the logical data size and
/// <see cref="Csum"/> the index checksum; for blobs they are the encoded file's size and SHA-256.
/// </summary>
/// <param name="Filename">Archive name (<c>*.fidx</c>, <c>*.didx</c> or <c>*.blob</c>).</param>
/// <param name="CryptMode">none, encrypt or sign-only (none when missing, as in pre-0.8 manifests).</param>
/// <param name="Size">Bytes (u64).</param>
/// <param name="Csum">64 lowercase hex digits.</param>
public sealed record ManifestFile(string Filename, CryptMode CryptMode, ulong Size, string Csum);

/// <summary>Result of the last verification, kept in the manifest's <c>unprotected.verify_state</c>.</summary>
/// <param name="State"><c>ok</c> or <c>failed</c>.</param>
/// <param name="Upid">UPID of the verify task.</param>
public sealed record VerifyState(string State, string Upid);
