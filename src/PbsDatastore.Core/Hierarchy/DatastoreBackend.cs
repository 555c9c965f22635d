namespace PbsDatastore.Core.Hierarchy;

/// <summary>
/// datastore.cfg's `backend` property string (addendum §4.1): `type=filesystem` (the default, no other keys) or
/// `type=s3,client=ENDPOINT-ID,bucket=BUCKET[,max-cache-size=SIZE]`.
/// </summary>
public sealed class DatastoreBackend
{
    public static readonly DatastoreBackend Filesystem = new("filesystem", null, null, null);

    private DatastoreBackend(string type, string? client, string? bucket, ulong? maxCacheSize)
    {
        Type = type;
        Client = client;
        Bucket = bucket;
        MaxCacheSize = maxCacheSize;
    }

    /// <summary>`filesystem` or `s3`.</summary>
    public string Type { get; }

    public bool IsS3 => Type == "s3";

    /// <summary>The `s3-endpoint` id in s3.cfg (S3 only).</summary>
    public string? Client { get; }

    public string? Bucket { get; }

    /// <summary>Upper bound of the local chunk cache in bytes (S3 only; unset: the cache filesystem's free space).</summary>
    public ulong? MaxCacheSize { get; }

    internal static DatastoreBackend Parse(string? value, string source)
    {
        if (value is null) return Filesystem;
        var p = PropertyString.Parse(value, "type", source, "backend");
        var type = p.GetValueOrDefault("type") ?? "filesystem";
        foreach (var key in p.Keys)
            if (key is not ("type" or "client" or "bucket" or "max-cache-size"))
                throw Invalid($"unknown key '{key}'");
        switch (type)
        {
            case "filesystem":
                if (p.Count > 1) throw Invalid("type 'filesystem' takes no other keys");
                return Filesystem;
            case "s3":
                if (p.GetValueOrDefault("client") is not { Length: > 0 } client) throw Invalid("type 's3' needs 'client'");
                if (!PbsNames.IsSafeId(client) || client.Length is < 3 or > 32) throw Invalid($"invalid client {PbsNames.Quote(client)}");
                if (p.GetValueOrDefault("bucket") is not { Length: > 0 } bucket) throw Invalid("type 's3' needs 'bucket'");
                if (!IsBucketName(bucket)) throw Invalid($"invalid bucket name {PbsNames.Quote(bucket)}");
                ulong? maxCache = null;
                if (p.TryGetValue("max-cache-size", out var size))
                    maxCache = HumanByte.TryParse(size) ?? throw Invalid($"invalid max-cache-size {PbsNames.Quote(size)}");
                return new DatastoreBackend("s3", client, bucket, maxCache);
            default:
                throw Invalid($"unknown type {PbsNames.Quote(type)}");
        }

        PbsException Invalid(string message) => new("DatastoreConfigInvalid", PbsErrorKind.InvalidData,
            $"{source}: invalid 'backend' value {PbsNames.Quote(value)} - {message}", source);
    }

    /// <summary>S3 bucket naming: 3–63 characters, letters, digits, '.', '-' and '_' (some providers allow them).</summary>
    private static bool IsBucketName(string name)
        => name.Length is >= 3 and <= 63 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_')
           && char.IsAsciiLetterOrDigit(name[0]) && char.IsAsciiLetterOrDigit(name[^1]);

    public override string ToString() => IsS3 ? $"s3 ({Client}/{Bucket})" : Type;
}
