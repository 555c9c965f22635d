using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PbsDatastore.Core.Formats;

/// <summary>
/// A snapshot manifest (<c>index.json.blob</c>): backup type, id and time, the archive list, the unsigned
/// <c>unprotected</c> object (notes, verify_state, key-fingerprint, chunk_upload_stats, anything else — all kept)
/// and the optional HMAC signature.
/// <para>Read with <see cref="Load"/> or <see cref="FromBlob"/>; change through <see cref="AddFile"/>,
/// <see cref="Notes"/>, <see cref="VerifyState"/>, <see cref="Unprotected"/> or <see cref="Sign"/>; write with
/// <see cref="ToBlob"/> (a compressed plain DataBlob, as PBS stores manifests) or <see cref="ToJson"/>. Re-serialising
/// an unchanged PBS manifest gives PBS's exact text. Locking and atomic replacement are the caller's job (§5.5).</para>
/// The parsed JSON is the source of truth, so members this class does not model survive a rewrite and take part
/// in signature checks exactly as in PBS. Errors: ManifestInvalid, ManifestNeedsKey, ManifestWrongKey,
/// ManifestBadSignature, CanonicalJsonNull, plus the Blob* errors of <see cref="DataBlob"/> when loading.
/// </summary>
public sealed class BackupManifest
{
    private static readonly string[] BackupTypes = ["vm", "ct", "host"];
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    private readonly JsonObject _json;
    private readonly List<ManifestFile> _files;

    private BackupManifest(JsonObject json, List<ManifestFile> files, object? target)
    {
        _json = json;
        _files = files;
        Target = target;
    }

    /// <summary>Where the manifest came from (used as error target).</summary>
    public object? Target { get; }

    /// <summary><c>vm</c>, <c>ct</c> or <c>host</c>.</summary>
    public string BackupType => (string)_json["backup-type"]!;

    public string BackupId => (string)_json["backup-id"]!;

    /// <summary>Backup time, epoch seconds.</summary>
    public long BackupTime => (long)_json["backup-time"]!;

    /// <summary>Archives in upload order.</summary>
    public IReadOnlyList<ManifestFile> Files => _files;

    /// <summary>Lowercase hex HMAC-SHA256 signature, or null for unsigned manifests.</summary>
    public string? Signature => (string?)_json["signature"];

    /// <summary>The unsigned <c>unprotected</c> object, live: changes are written by <see cref="ToJson"/>.</summary>
    public JsonObject Unprotected => _json["unprotected"]!.AsObject();

    /// <summary>Full fingerprint of the key the snapshot was written with (<c>unprotected.key-fingerprint</c>).</summary>
    public string? KeyFingerprint => Unprotected["key-fingerprint"] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;

    /// <summary>Snapshot notes (<c>unprotected.notes</c>); null removes them.</summary>
    public string? Notes
    {
        get => Unprotected["notes"] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;
        set => SetUnprotected("notes", value is null ? null : JsonValue.Create(value));
    }

    /// <summary>Result of the last verification (<c>unprotected.verify_state</c>); null removes it.</summary>
    public VerifyState? VerifyState
    {
        get => Unprotected["verify_state"] is JsonObject o
               && o["state"] is JsonValue s && s.GetValueKind() == JsonValueKind.String
               && o["upid"] is JsonValue u && u.GetValueKind() == JsonValueKind.String
            ? new VerifyState(s.GetValue<string>(), u.GetValue<string>())
            : null;
        set => SetUnprotected("verify_state", value is null ? null : new JsonObject { ["state"] = value.State, ["upid"] = value.Upid });
    }

    /// <summary>A new, empty, unsigned manifest.</summary>
    public static BackupManifest Create(string backupType, string backupId, long backupTime)
    {
        var json = new JsonObject
        {
            ["backup-type"] = backupType,
            ["backup-id"] = backupId,
            ["backup-time"] = backupTime,
            ["files"] = new JsonArray(),
            ["signature"] = null,
            ["unprotected"] = new JsonObject(),
        };
        return FromJson(json, null);
    }

    /// <summary>Loads <c>index.json.blob</c>: blob checks (size, magic, CRC), decode without key, parse.</summary>
    public static BackupManifest Load(string path) => FromBlob(DataBlob.Load(path));

    /// <summary>As <see cref="Load(string)"/>, also giving the JSON text exactly as stored (strict UTF-8).</summary>
    public static BackupManifest Load(string path, out string text)
    {
        var data = DataBlob.Load(path).Decode();
        var manifest = Parse(data, path);
        try { text = StrictUtf8.GetString(data); }
        catch (DecoderFallbackException e) { throw Invalid("not valid UTF-8", path, e); }
        return manifest;
    }

    /// <summary>Decodes a manifest blob (never encrypted) and parses it.</summary>
    public static BackupManifest FromBlob(DataBlob blob) => Parse(blob.Decode(), blob.Target);

    /// <summary>Parses manifest JSON text (any key order and whitespace).</summary>
    public static BackupManifest Parse(string json, object? target = null) => Parse(Encoding.UTF8.GetBytes(json), target);

    /// <summary>Parses UTF-8 manifest JSON (any key order and whitespace).</summary>
    public static BackupManifest Parse(ReadOnlySpan<byte> utf8Json, object? target = null)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(utf8Json);
            Materialize(node);
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException or FormatException)
        {
            throw Invalid(e.Message, target, e);
        }
        if (node is not JsonObject json) throw Invalid("not a JSON object", target);
        return FromJson(json, target);
    }

    /// <summary>The archive entry with this file name, or null.</summary>
    public ManifestFile? FindFile(string filename) => _files.Find(f => f.Filename == filename);

    /// <summary>Appends an archive entry (as the backup writer does when an archive is finished).</summary>
    public void AddFile(ManifestFile file)
    {
        if (file.Csum.Length != 64 || !file.Csum.All(char.IsAsciiHexDigit))
            throw new PbsException("ManifestInvalid", PbsErrorKind.InvalidArgument, $"csum of '{file.Filename}' must be 64 hex digits", Target);
        var entry = new JsonObject
        {
            ["crypt-mode"] = file.CryptMode.ToPbsName(),
            ["csum"] = file.Csum.ToLowerInvariant(),
            ["filename"] = file.Filename,
            ["size"] = file.Size,
        };
        _json["files"]!.AsArray().Add(entry);
        _files.Add(file with { Csum = file.Csum.ToLowerInvariant() });
    }

    /// <summary>The manifest text as PBS writes it: sorted keys, two-space indentation, no trailing newline.</summary>
    public string ToJson() => CanonicalJson.SerializePretty(_json);

    /// <summary>A deep copy of the whole manifest document.</summary>
    public JsonObject ToJsonNode() => _json.DeepClone().AsObject();

    /// <summary>Encodes the manifest as PBS stores it: an unencrypted DataBlob with compression requested.</summary>
    public DataBlob ToBlob() => DataBlob.Encode(Encoding.UTF8.GetBytes(ToJson()), null, compress: true);

    /// <summary>The signed text: canonical JSON of the manifest without <c>unprotected</c> and <c>signature</c>.</summary>
    public string ToCanonicalSignedJson()
    {
        var signed = _json.DeepClone().AsObject();
        signed.Remove("unprotected");
        signed.Remove("signature");
        return CanonicalJson.Serialize(signed);
    }

    /// <summary>Lowercase hex HMAC-SHA256 (key: the id_key) of <see cref="ToCanonicalSignedJson"/>.</summary>
    public string ComputeSignature(CryptConfig crypt) =>
        Convert.ToHexStringLower(crypt.ComputeAuthTag(Encoding.UTF8.GetBytes(ToCanonicalSignedJson())));

    /// <summary>Signs as a PBS client with a key does: sets <c>signature</c> and <c>unprotected.key-fingerprint</c>.</summary>
    public void Sign(CryptConfig crypt)
    {
        _json["signature"] = ComputeSignature(crypt);
        Unprotected["key-fingerprint"] = crypt.Fingerprint;
    }

    /// <summary>
    /// PBS's signature check: with a key and a signature, the manifest's key fingerprint (if any) must match the
    /// key (ManifestWrongKey) and the signature must match (ManifestBadSignature). Unsigned manifests, or no key,
    /// pass — the server never checks signatures.
    /// </summary>
    public void CheckSignature(CryptConfig? crypt)
    {
        if (crypt is null || Signature is null) return;
        if (KeyFingerprint is { } fp && !SameFingerprint(fp, crypt))
            throw new PbsException("ManifestWrongKey", PbsErrorKind.SecurityError,
                $"wrong key - unable to verify signature since manifest's key {CryptConfig.ShortForm(fp)} does not match provided key {crypt.ShortFingerprint}", Target);
        if (!string.Equals(Signature, ComputeSignature(crypt), StringComparison.OrdinalIgnoreCase))
            throw new PbsException("ManifestBadSignature", PbsErrorKind.SecurityError, "wrong signature in manifest", Target);
    }

    /// <summary>
    /// PBS's fingerprint check without signature verification: a manifest with <c>key-fingerprint</c> needs a key
    /// (ManifestNeedsKey) and that key must match (ManifestWrongKey).
    /// </summary>
    public void CheckFingerprint(CryptConfig? crypt)
    {
        if (KeyFingerprint is not { } fp) return;
        if (crypt is null)
            throw new PbsException("ManifestNeedsKey", PbsErrorKind.InvalidArgument, $"missing key - manifest was created with key {CryptConfig.ShortForm(fp)}", Target);
        if (!SameFingerprint(fp, crypt))
            throw new PbsException("ManifestWrongKey", PbsErrorKind.SecurityError,
                $"wrong key - manifest's key {CryptConfig.ShortForm(fp)} does not match provided key {crypt.ShortFingerprint}", Target);
    }

    private static bool SameFingerprint(string text, CryptConfig crypt) =>
        CryptConfig.TryParseFingerprint(text, out var bytes) && bytes.AsSpan().SequenceEqual(crypt.FingerprintBytes);

    private void SetUnprotected(string key, JsonNode? value)
    {
        if (value is null) Unprotected.Remove(key);
        else Unprotected[key] = value;
    }

    /// <summary>Checks the typed members and fills PBS's defaults (<c>signature: null</c>, <c>unprotected: {}</c>).</summary>
    private static BackupManifest FromJson(JsonObject json, object? target)
    {
        var type = RequiredString(json, "backup-type", target);
        if (!BackupTypes.Contains(type)) throw Invalid($"unknown backup-type '{type}'", target);
        RequiredString(json, "backup-id", target);
        if (!TryGetInteger(json["backup-time"], out long _)) throw Invalid("missing or invalid 'backup-time'", target);

        if (json["files"] is not JsonArray files) throw Invalid("missing or invalid 'files'", target);
        var list = new List<ManifestFile>(files.Count);
        foreach (var item in files)
        {
            if (item is not JsonObject f) throw Invalid("'files' entries must be objects", target);
            var name = RequiredString(f, "filename", target);
            var mode = CryptMode.None;
            if (f["crypt-mode"] is { } m && !(m is JsonValue mv && mv.GetValueKind() == JsonValueKind.String && CryptModes.TryParse(mv.GetValue<string>(), out mode)))
                throw Invalid($"invalid crypt-mode of '{name}'", target);
            if (!TryGetInteger(f["size"], out ulong size)) throw Invalid($"missing or invalid size of '{name}'", target);
            var csum = RequiredString(f, "csum", target);
            if (csum.Length != 64 || !csum.All(char.IsAsciiHexDigit)) throw Invalid($"invalid csum of '{name}'", target);
            list.Add(new ManifestFile(name, mode, size, csum.ToLowerInvariant()));
        }

        if (!json.ContainsKey("signature")) json["signature"] = null;
        else if (json["signature"] is { } sig && !(sig is JsonValue sv && sv.GetValueKind() == JsonValueKind.String))
            throw Invalid("invalid 'signature'", target);
        if (!json.ContainsKey("unprotected")) json["unprotected"] = new JsonObject();
        else if (json["unprotected"] is not JsonObject) throw Invalid("'unprotected' must be an object", target);
        return new BackupManifest(json, list, target);
    }

    private static string RequiredString(JsonObject obj, string key, object? target) =>
        obj[key] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : throw Invalid($"missing or invalid '{key}'", target);

    private static bool TryGetInteger<T>(JsonNode? node, out T value) where T : struct
    {
        value = default;
        return node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out value);
    }

    /// <summary>
    /// Walks the tree so lazily built objects and strings (and their duplicate-key or invalid-UTF-8 errors) are
    /// created inside the parse, not at some later access.
    /// </summary>
    private static void Materialize(JsonNode? node)
    {
        switch (node)
        {
            case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                value.GetValue<string>();
                break;
            case JsonObject obj:
                foreach (var p in obj) Materialize(p.Value);
                break;
            case JsonArray array:
                foreach (var item in array) Materialize(item);
                break;
        }
    }

    private static PbsException Invalid(string message, object? target, Exception? inner = null) =>
        new("ManifestInvalid", PbsErrorKind.InvalidData, $"unable to parse backup manifest json - {message}", target, inner);
}
