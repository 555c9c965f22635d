using System.Text.Json.Nodes;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Formats;

/// <summary>Keys and file lists of the reference store, shared by the format tests.</summary>
internal static class FormatFixtures
{
    private static readonly Lazy<CryptConfig> PlainKeyCrypt = new(() => KeyConfig.Load(ReferenceStore.KeyFile).Decrypt());
    private static readonly Lazy<CryptConfig> ScryptKeyCrypt = new(() => KeyConfig.Load(ReferenceStore.ScryptKeyFile).Decrypt(ReferenceStore.ScryptPassword));

    public static JsonObject Key => ReferenceStore.Expected["key"]!.AsObject();

    /// <summary>The fixture key as read from the kdf-none key file.</summary>
    public static CryptConfig Crypt => PlainKeyCrypt.Value;

    /// <summary>The same key as read from the scrypt-protected key file.</summary>
    public static CryptConfig ScryptCrypt => ScryptKeyCrypt.Value;

    public static IEnumerable<JsonObject> Chunks => ReferenceStore.Expected["store"]!["chunks"]!.AsArray().Select(c => c!.AsObject());

    public static IEnumerable<JsonObject> BadFiles => ReferenceStore.Expected["store"]!["bad_files"]!.AsArray().Select(c => c!.AsObject());

    public static IEnumerable<JsonObject> Snapshots => ReferenceStore.Expected["store"]!["snapshots"]!.AsArray().Select(c => c!.AsObject());

    /// <summary>Every blob file of every snapshot: (snapshot path, file entry, blob facts).</summary>
    public static IEnumerable<(string Snapshot, JsonObject File, JsonObject Blob)> SnapshotBlobs =>
        from s in Snapshots
        from f in s["files"]!.AsArray().Select(f => f!.AsObject())
        where (string)f["type"]! == "blob"
        select ((string)s["path"]!, f, f["blob"]!.AsObject());

    public static string StorePath(string relative) => Path.Combine(ReferenceStore.PristinePath, relative);

    public static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(bytes);

    public static string Sha256Hex(ReadOnlySpan<byte> bytes) => Hex(System.Security.Cryptography.SHA256.HashData(bytes));
}
