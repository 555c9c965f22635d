using System.Security.Cryptography;
using System.Text;

namespace PbsDatastore.Core.S3;

/// <summary>
/// AWS Signature Version 4 for S3 requests (header form, signed payload hash). Kept separate from the HTTP code so
/// it can be checked against AWS's published examples.
/// </summary>
internal static class SigV4
{
    public const string Algorithm = "AWS4-HMAC-SHA256";
    public const string EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// <summary>
    /// The Authorization header value. <paramref name="headers"/> are the headers to sign (names any case; `host`,
    /// `x-amz-date` and `x-amz-content-sha256` must be among them); <paramref name="encodedPath"/> is already
    /// URI-encoded, <paramref name="query"/> holds raw (unencoded) names and values.
    /// </summary>
    public static string Authorization(string method, string encodedPath, IEnumerable<KeyValuePair<string, string>> query,
        IEnumerable<KeyValuePair<string, string>> headers, string payloadHash, DateTime utcNow, string region,
        string accessKey, string secretKey)
    {
        var date = utcNow.ToString("yyyyMMdd", System.Globalization.CultureInfo.InvariantCulture);
        var canonicalHeaders = headers
            .Select(h => (Name: h.Key.ToLowerInvariant(), Value: CollapseSpaces(h.Value.Trim())))
            .OrderBy(h => h.Name, StringComparer.Ordinal)
            .ToList();
        var signedHeaders = string.Join(';', canonicalHeaders.Select(h => h.Name));
        var canonicalRequest = string.Join('\n',
            method,
            encodedPath,
            CanonicalQuery(query),
            string.Concat(canonicalHeaders.Select(h => $"{h.Name}:{h.Value}\n")),
            signedHeaders,
            payloadHash);
        var scope = $"{date}/{region}/s3/aws4_request";
        var stringToSign = string.Join('\n',
            Algorithm,
            utcNow.ToString("yyyyMMdd'T'HHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture),
            scope,
            Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonicalRequest))));
        var key = Hmac(Encoding.UTF8.GetBytes("AWS4" + secretKey), date);
        key = Hmac(key, region);
        key = Hmac(key, "s3");
        key = Hmac(key, "aws4_request");
        var signature = Hex(Hmac(key, stringToSign));
        return $"{Algorithm} Credential={accessKey}/{scope},SignedHeaders={signedHeaders},Signature={signature}";
    }

    /// <summary>Query parameters sorted by encoded name (then value), each `name=value` with RFC 3986 encoding.</summary>
    public static string CanonicalQuery(IEnumerable<KeyValuePair<string, string>> query)
        => string.Join('&', query
            .Select(q => (Name: UriEncode(q.Key, true), Value: UriEncode(q.Value, true)))
            .OrderBy(q => q.Name, StringComparer.Ordinal).ThenBy(q => q.Value, StringComparer.Ordinal)
            .Select(q => $"{q.Name}={q.Value}"));

    /// <summary>
    /// S3's URI encoding: every byte except the RFC 3986 unreserved characters as %XX (upper case); `/` is kept in
    /// paths (<paramref name="encodeSlash"/> false) and encoded in query components.
    /// </summary>
    public static string UriEncode(string value, bool encodeSlash)
    {
        var sb = new StringBuilder(value.Length);
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            var c = (char)b;
            if (char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '~' || (c == '/' && !encodeSlash))
                sb.Append(c);
            else
                sb.Append('%').Append(b.ToString("X2"));
        }
        return sb.ToString();
    }

    public static string PayloadHash(ReadOnlySpan<byte> body) => Hex(SHA256.HashData(body));

    private static byte[] Hmac(byte[] key, string data) => HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(data));

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);

    private static string CollapseSpaces(string s)
    {
        if (!s.Contains("  ")) return s;
        var sb = new StringBuilder(s.Length);
        foreach (var c in s)
            if (c != ' ' || sb.Length == 0 || sb[^1] != ' ') sb.Append(c);
        return sb.ToString();
    }
}
