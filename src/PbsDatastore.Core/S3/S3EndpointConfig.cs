namespace PbsDatastore.Core.S3;

/// <summary>
/// PBS's `s3.cfg` (addendum §4.1): `s3-endpoint: ID` sections (`s3client` before PBS 4.0.5) with the endpoint,
/// credentials, addressing style, provider quirks and rate limits the S3 client of a datastore uses.
/// </summary>
public sealed class S3EndpointConfig
{
    private static readonly HashSet<string> KnownKeys = new(StringComparer.Ordinal)
    {
        "endpoint", "port", "region", "fingerprint", "access-key", "secret-key", "path-style", "put-rate-limit",
        "provider-quirks", "rate-in", "burst-in", "rate-out", "burst-out",
    };

    private S3EndpointConfig(string path, List<S3Endpoint> endpoints)
    {
        Path = path;
        Endpoints = endpoints;
    }

    public string Path { get; }

    public IReadOnlyList<S3Endpoint> Endpoints { get; }

    public static string DefaultPath => System.IO.Path.Combine(PbsPaths.ConfigRoot, "s3.cfg");

    /// <summary>Reads s3.cfg (default under the config root, <see cref="PbsPaths.ConfigRoot"/>).</summary>
    public static S3EndpointConfig Load(string? path = null)
    {
        path ??= DefaultPath;
        return Parse(SectionConfig.ReadText(path, "S3ConfigNotFound", "S3ConfigUnreadable", "S3 endpoint configuration"), path);
    }

    public static S3EndpointConfig Parse(string text, string source = "s3.cfg")
    {
        var sections = SectionConfig.Parse(text, source, ["s3-endpoint", "s3client"], KnownKeys.Contains,
            key => key == "provider-quirks", message => Invalid(source, message));
        return new S3EndpointConfig(source, sections.Select(s => S3Endpoint.FromSection(s, source)).ToList());
    }

    /// <summary>The endpoint <paramref name="id"/>; throws S3EndpointNotConfigured.</summary>
    public S3Endpoint Get(string id)
        => Endpoints.FirstOrDefault(e => e.Id == id) ?? throw new PbsException("S3EndpointNotConfigured",
            PbsErrorKind.ObjectNotFound, $"S3 endpoint '{id}' does not exist in {Path}", id);

    internal static PbsException Invalid(string source, string message)
        => new("S3ConfigInvalid", PbsErrorKind.InvalidData, message, source);
}
