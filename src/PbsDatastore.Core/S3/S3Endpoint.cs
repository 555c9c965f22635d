namespace PbsDatastore.Core.S3;

/// <summary>One `s3-endpoint` section.</summary>
public sealed class S3Endpoint
{
    /// <summary>Region used when none is configured (PBS's default).</summary>
    public const string DefaultRegion = "us-west-1";

    public S3Endpoint(string id, string endpoint, string accessKey, string secretKey)
    {
        Id = id;
        Endpoint = endpoint;
        AccessKey = accessKey;
        SecretKey = secretKey;
    }

    public string Id { get; }

    /// <summary>Host name or IP; may contain `{{bucket}}` and `{{region}}` templates.</summary>
    public string Endpoint { get; }

    public int? Port { get; init; }

    public string? Region { get; init; }

    /// <summary>SHA-256 fingerprint of the server's TLS certificate (`aa:bb:…`); pins it instead of the CA check.</summary>
    public string? Fingerprint { get; init; }

    public string AccessKey { get; }

    public string SecretKey { get; }

    /// <summary>Path-style addressing (`https://host/bucket/key`) instead of virtual hosts (`https://bucket.host/key`).</summary>
    public bool PathStyle { get; init; }

    /// <summary>PUT requests per second, or null for unlimited.</summary>
    public ulong? PutRateLimit { get; init; }

    public S3ProviderQuirks ProviderQuirks { get; init; }

    /// <summary>Download rate in bytes/s (null: unlimited) and its burst.</summary>
    public ulong? RateIn { get; init; }
    public ulong? BurstIn { get; init; }

    /// <summary>Upload rate in bytes/s (null: unlimited) and its burst.</summary>
    public ulong? RateOut { get; init; }
    public ulong? BurstOut { get; init; }

    public string EffectiveRegion => Region ?? DefaultRegion;

    internal static S3Endpoint FromSection(SectionConfigSection s, string source)
    {
        var p = s.Properties;
        string Required(string key) => p.GetValueOrDefault(key) is { Length: > 0 } v
            ? v : throw S3EndpointConfig.Invalid(source, $"{source}:{s.HeaderLine}: s3-endpoint '{s.Id}': missing property '{key}'");
        PbsException Bad(string key) => S3EndpointConfig.Invalid(source,
            $"{source}:{s.HeaderLine}: s3-endpoint '{s.Id}': invalid '{key}' value {PbsNames.Quote(p[key])}");
        ulong? Size(string key) => p.ContainsKey(key) ? HumanByte.TryParse(p[key]) ?? throw Bad(key) : null;

        int? port = null;
        if (p.TryGetValue("port", out var portText))
            port = int.TryParse(portText, out var n) && n is > 0 and < 65536 ? n : throw Bad("port");
        if (p.TryGetValue("region", out var region) && !IsRegion(region)) throw Bad("region");
        if (p.TryGetValue("fingerprint", out var fp) && NormalizeFingerprint(fp) is null) throw Bad("fingerprint");
        ulong? putRate = null;
        if (p.TryGetValue("put-rate-limit", out var pr))
            putRate = ulong.TryParse(pr, out var r) && r > 0 ? r : throw Bad("put-rate-limit");
        var quirks = S3ProviderQuirks.None;
        if (p.TryGetValue("provider-quirks", out var q))
            foreach (var item in q.Split([',', ' ', ';'], StringSplitOptions.RemoveEmptyEntries))
                quirks |= item switch
                {
                    "skip-if-none-match-header" => S3ProviderQuirks.SkipIfNoneMatchHeader,
                    "delete-objects-via-delete-object" => S3ProviderQuirks.DeleteObjectsViaDeleteObject,
                    _ => throw Bad("provider-quirks"),
                };
        var pathStyle = p.TryGetValue("path-style", out var ps) ? ParseBool(ps) ?? throw Bad("path-style") : false;
        var endpoint = Required("endpoint");
        if (endpoint.Contains("://") || endpoint.Contains('/')) throw Bad("endpoint");
        return new S3Endpoint(s.Id, endpoint, Required("access-key"), Required("secret-key"))
        {
            Port = port,
            Region = region,
            Fingerprint = fp is null ? null : NormalizeFingerprint(fp),
            PathStyle = pathStyle,
            PutRateLimit = putRate,
            ProviderQuirks = quirks,
            RateIn = Size("rate-in"),
            BurstIn = Size("burst-in"),
            RateOut = Size("rate-out"),
            BurstOut = Size("burst-out"),
        };
    }

    /// <summary>Lower-case `aa:bb:…` form of a SHA-256 fingerprint (32 bytes), or null when malformed.</summary>
    public static string? NormalizeFingerprint(string text)
    {
        var hex = text.Replace(":", "").Trim();
        if (hex.Length != 64 || !hex.All(char.IsAsciiHexDigit)) return null;
        return string.Join(':', Enumerable.Range(0, 32).Select(i => hex.Substring(i * 2, 2).ToLowerInvariant()));
    }

    private static bool IsRegion(string r)
        => r.Length is > 0 and <= 64 && r.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '_');

    // PBS's boolean parser: 1/0, true/false, yes/no, on/off.
    private static bool? ParseBool(string v) => v.ToLowerInvariant() switch
    {
        "1" or "true" or "yes" or "on" => true,
        "0" or "false" or "no" or "off" => false,
        _ => null,
    };

    /// <summary>The secret never appears in output.</summary>
    public override string ToString() => $"{Id} ({Endpoint}{(Port is { } p ? ":" + p : "")})";
}
