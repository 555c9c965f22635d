using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;

namespace PbsDatastore.Core.S3;

/// <summary>Tuning of <see cref="S3Client"/>'s retries; defaults suit real providers, tests shorten them.</summary>
public sealed record S3ClientOptions
{
    /// <summary>Attempts per request (first try included) on 5xx, SlowDown, 429, timeouts and broken connections.</summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>Backoff before the second attempt; doubles per attempt up to <see cref="MaxDelay"/>, with jitter.</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(250);

    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Time limit of one attempt (connect, send and the whole response).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Stops waits and requests (the task state's cancellation).</summary>
    public CancellationToken Cancellation { get; init; }
}

/// <summary>An object as listed or HEADed.</summary>
public sealed record S3ObjectInfo(string Key, long Size, DateTimeOffset? LastModified, string? ETag);

/// <summary>One ListObjectsV2 page.</summary>
public sealed record S3ListPage(IReadOnlyList<S3ObjectInfo> Objects, string? NextContinuationToken);

/// <summary>A key DeleteObjects could not delete.</summary>
public sealed record S3DeleteError(string Key, string Code, string Message);

/// <summary>
/// A small S3 client of our own (SigV4 over HttpClient, HTTPS as PBS uses it, optional certificate fingerprint
/// pinning), with the operations a PBS datastore needs: bucket HEAD, object GET/PUT/HEAD/DELETE/COPY,
/// ListObjectsV2 with continuation and batched DeleteObjects. Retries transient failures with exponential backoff,
/// honours the endpoint's put-rate and byte-rate limits and counts requests and bytes.
/// Keys passed in are full bucket keys (the datastore-name prefix is <see cref="S3Keys"/>' business).
/// </summary>
public sealed class S3Client : IDisposable
{
    /// <summary>Most keys one DeleteObjects request may carry (S3's limit).</summary>
    public const int MaxDeleteBatch = 1000;

    /// <summary>Longest key S3 accepts, in UTF-8 bytes.</summary>
    public const int MaxKeyBytes = 1024;

    private readonly S3Endpoint _endpoint;
    private readonly S3ClientOptions _options;
    private readonly HttpClient _http;
    private readonly string _host;
    private readonly string _pathPrefix;
    private readonly TokenBucket? _putRate, _rateIn, _rateOut;

    public S3Client(S3Endpoint endpoint, string bucket, S3ClientOptions? options = null, HttpMessageHandler? transport = null)
    {
        _endpoint = endpoint;
        Bucket = bucket;
        _options = options ?? new S3ClientOptions();
        _http = new HttpClient(transport ?? CreateTransport(endpoint), disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
        var host = endpoint.Endpoint.Replace("{{region}}", endpoint.EffectiveRegion);
        if (endpoint.PathStyle)
        {
            host = host.Replace("{{bucket}}.", "").Replace("{{bucket}}", "");
            _pathPrefix = "/" + SigV4.UriEncode(bucket, true);
        }
        else
        {
            host = host.Contains("{{bucket}}") ? host.Replace("{{bucket}}", bucket) : bucket + "." + host;
            _pathPrefix = "";
        }
        _host = endpoint.Port is { } port && port != 443 ? $"{host}:{port}" : host;
        if (endpoint.PutRateLimit is { } puts) _putRate = new TokenBucket(puts, puts);
        if (endpoint.RateIn is { } rin) _rateIn = new TokenBucket(rin, endpoint.BurstIn ?? rin);
        if (endpoint.RateOut is { } rout) _rateOut = new TokenBucket(rout, endpoint.BurstOut ?? rout);
    }

    public string Bucket { get; }

    public S3RequestCounters Counters { get; } = new();

    /// <summary>`host[:port]` requests go to (after template expansion and addressing style).</summary>
    public string Host => _host;

    /// <summary>
    /// The HTTPS transport for <paramref name="endpoint"/>: with a fingerprint the server's certificate must match
    /// it (self-signed certificates are the usual case), without one the normal CA validation applies.
    /// </summary>
    public static HttpMessageHandler CreateTransport(S3Endpoint endpoint)
    {
        var pinned = endpoint.Fingerprint;
        return new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            AutomaticDecompression = DecompressionMethods.None,
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, cert, _, errors) => pinned is null
                    ? errors == SslPolicyErrors.None
                    : cert is not null && S3Endpoint.NormalizeFingerprint(Convert.ToHexString(SHA256.HashData(cert.GetRawCertData()))) == pinned,
            },
        };
    }

    /// <summary>HEADs the bucket: throws when it is unreachable, missing or refused (PBS's first step of S3 GC).</summary>
    public void HeadBucket()
    {
        var r = Send(HttpMethod.Head, null, [], null, null);
        if (r.Status != HttpStatusCode.OK) throw Failure(HttpMethod.Head, Bucket, r);
    }

    /// <summary>The object's bytes, or null when it does not exist.</summary>
    public byte[]? GetObject(string key)
    {
        var r = Send(HttpMethod.Get, key, [], null, null);
        if (r.Status == HttpStatusCode.NotFound) return null;
        if (r.Status != HttpStatusCode.OK) throw Failure(HttpMethod.Get, key, r);
        return r.Body;
    }

    public S3ObjectInfo? HeadObject(string key)
    {
        var r = Send(HttpMethod.Head, key, [], null, null);
        if (r.Status == HttpStatusCode.NotFound) return null;
        if (r.Status != HttpStatusCode.OK) throw Failure(HttpMethod.Head, key, r);
        return new S3ObjectInfo(key, r.ContentLength ?? 0, r.LastModified, r.ETag);
    }

    /// <summary>
    /// Uploads an object. With <paramref name="replace"/> false it is a no-replace upload (`If-None-Match: *`, as
    /// PBS uploads chunks) and returns false when the object already exists; the provider quirk
    /// `skip-if-none-match-header` drops the header, so such uploads overwrite.
    /// </summary>
    public bool PutObject(string key, byte[] data, bool replace = true)
    {
        var headers = new List<KeyValuePair<string, string>>
        {
            new("content-type", "application/octet-stream"),
            new("content-md5", Convert.ToBase64String(MD5.HashData(data))),
        };
        if (!replace && !_endpoint.ProviderQuirks.HasFlag(S3ProviderQuirks.SkipIfNoneMatchHeader))
            headers.Add(new("if-none-match", "*"));
        var r = Send(HttpMethod.Put, key, [], data, headers);
        if (r.Status == HttpStatusCode.PreconditionFailed && !replace) return false;
        if (r.Status != HttpStatusCode.OK) throw Failure(HttpMethod.Put, key, r);
        return true;
    }

    /// <summary>Deletes an object (a missing one is fine, as in S3).</summary>
    public void DeleteObject(string key)
    {
        var r = Send(HttpMethod.Delete, key, [], null, null);
        if (r.Status is not (HttpStatusCode.NoContent or HttpStatusCode.OK or HttpStatusCode.NotFound))
            throw Failure(HttpMethod.Delete, key, r);
    }

    /// <summary>
    /// Deletes up to <see cref="MaxDeleteBatch"/> objects in one DeleteObjects request (quiet mode) and returns the
    /// keys S3 refused; with the quirk `delete-objects-via-delete-object` one DELETE per key.
    /// </summary>
    public IReadOnlyList<S3DeleteError> DeleteObjects(IReadOnlyList<string> keys)
    {
        if (keys.Count > MaxDeleteBatch) throw new ArgumentException($"at most {MaxDeleteBatch} keys per DeleteObjects request", nameof(keys));
        if (keys.Count == 0) return [];
        var errors = new List<S3DeleteError>();
        if (_endpoint.ProviderQuirks.HasFlag(S3ProviderQuirks.DeleteObjectsViaDeleteObject))
        {
            foreach (var key in keys)
            {
                try { DeleteObject(key); }
                catch (PbsException e) { errors.Add(new S3DeleteError(key, e.ErrorId, e.Message)); }
            }
            return errors;
        }
        XNamespace ns = "http://s3.amazonaws.com/doc/2006-03-01/";
        var xml = new XDocument(new XElement(ns + "Delete",
            new XElement(ns + "Quiet", "true"),
            keys.Select(k => new XElement(ns + "Object", new XElement(ns + "Key", CheckKey(k))))));
        var body = Encoding.UTF8.GetBytes(xml.Declaration + xml.ToString(SaveOptions.DisableFormatting));
        var r = Send(HttpMethod.Post, null, [new("delete", "")], body,
            [new("content-type", "application/xml"), new("content-md5", Convert.ToBase64String(MD5.HashData(body)))]);
        if (r.Status != HttpStatusCode.OK) throw Failure(HttpMethod.Post, Bucket, r);
        var doc = ParseXml(r, HttpMethod.Post, Bucket);
        foreach (var e in doc.Root!.Elements().Where(e => e.Name.LocalName == "Error"))
            errors.Add(new S3DeleteError(Child(e, "Key") ?? "", Child(e, "Code") ?? "", Child(e, "Message") ?? ""));
        return errors;
    }

    /// <summary>
    /// One ListObjectsV2 page of keys starting with <paramref name="prefix"/>; the first page begins after the key
    /// <paramref name="startAfter"/> when given (S3 ignores it once a continuation token is sent).
    /// </summary>
    public S3ListPage ListObjectsPage(string prefix, string? continuationToken, int maxKeys = MaxDeleteBatch, string? startAfter = null)
    {
        var query = new List<KeyValuePair<string, string>> { new("list-type", "2"), new("prefix", prefix), new("max-keys", maxKeys.ToString()) };
        if (continuationToken != null) query.Add(new("continuation-token", continuationToken));
        else if (startAfter != null) query.Add(new("start-after", CheckKey(startAfter)));
        var r = Send(HttpMethod.Get, null, query, null, null);
        if (r.Status != HttpStatusCode.OK) throw Failure(HttpMethod.Get, prefix, r);
        var root = ParseXml(r, HttpMethod.Get, prefix).Root!;
        var objects = root.Elements().Where(e => e.Name.LocalName == "Contents").Select(c => new S3ObjectInfo(
            Child(c, "Key") ?? "",
            long.TryParse(Child(c, "Size"), out var size) ? size : 0,
            DateTimeOffset.TryParse(Child(c, "LastModified"), System.Globalization.CultureInfo.InvariantCulture, out var lm) ? lm : null,
            Child(c, "ETag"))).ToList();
        var truncated = string.Equals(Child(root, "IsTruncated"), "true", StringComparison.OrdinalIgnoreCase);
        var next = truncated ? Child(root, "NextContinuationToken") : null;
        if (truncated && string.IsNullOrEmpty(next))
            throw new PbsException("S3InvalidResponse", PbsErrorKind.ReadError,
                $"S3 listing of '{prefix}' in bucket '{Bucket}' is truncated but has no continuation token", prefix);
        return new S3ListPage(objects, next);
    }

    /// <summary>
    /// Every key starting with <paramref name="prefix"/> (and after <paramref name="startAfter"/>), in key order,
    /// page by page: pages are fetched as enumerated, so a caller that stops early fetches no further page.
    /// </summary>
    public IEnumerable<S3ObjectInfo> ListObjects(string prefix, int pageSize = MaxDeleteBatch, string? startAfter = null)
    {
        string? token = null;
        do
        {
            var page = ListObjectsPage(prefix, token, pageSize, startAfter);
            foreach (var o in page.Objects) yield return o;
            token = page.NextContinuationToken;
        } while (token != null);
    }

    /// <summary>Server-side copy of an object within the bucket (moves copy, then delete).</summary>
    public void CopyObject(string sourceKey, string targetKey)
    {
        // ':' (in every snapshot time) stays literal: S3 accepts it, and some servers decode the header with
        // decodeURI, which leaves %3A encoded and then misses the source.
        var source = "/" + SigV4.UriEncode(Bucket, true) + "/" + SigV4.UriEncode(CheckKey(sourceKey), false).Replace("%3A", ":");
        var r = Send(HttpMethod.Put, targetKey, [], null, [new("x-amz-copy-source", source)]);
        // S3 may answer 200 and put the error into the body when the copy fails late.
        if (r.Status != HttpStatusCode.OK || ParseXml(r, HttpMethod.Put, targetKey).Root?.Name.LocalName == "Error")
            throw Failure(HttpMethod.Put, targetKey, r);
    }

    private sealed record Response(HttpStatusCode Status, byte[] Body, long? ContentLength, DateTimeOffset? LastModified, string? ETag);

    private Response Send(HttpMethod method, string? key, IReadOnlyList<KeyValuePair<string, string>> query, byte[]? body,
        IReadOnlyList<KeyValuePair<string, string>>? extraHeaders)
    {
        var path = _pathPrefix + "/" + (key is null ? "" : SigV4.UriEncode(CheckKey(key), false));
        var canonicalQuery = SigV4.CanonicalQuery(query);
        var uri = new Uri($"https://{_host}{path}{(canonicalQuery.Length > 0 ? "?" + canonicalQuery : "")}");
        var payloadHash = body is null ? SigV4.EmptyPayloadHash : SigV4.PayloadHash(body);
        var cancel = _options.Cancellation;
        for (var attempt = 1; ; attempt++)
        {
            cancel.ThrowIfCancellationRequested();
            if (method == HttpMethod.Put && _putRate != null) Wait(_putRate.Take(1));
            if (body is { Length: > 0 } && _rateOut != null) Wait(_rateOut.Take(body.Length));
            using var request = new HttpRequestMessage(method, uri);
            var now = DateTime.UtcNow;
            var signed = new List<KeyValuePair<string, string>>
            {
                new("host", _host),
                new("x-amz-content-sha256", payloadHash),
                new("x-amz-date", now.ToString("yyyyMMdd'T'HHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture)),
            };
            if (extraHeaders != null) signed.AddRange(extraHeaders);
            request.Headers.Host = _host;
            if (body != null) request.Content = new ByteArrayContent(body);
            foreach (var (name, value) in signed)
            {
                if (name == "host") continue;
                if (name.StartsWith("content-", StringComparison.Ordinal))
                {
                    request.Content ??= new ByteArrayContent([]);
                    request.Content.Headers.TryAddWithoutValidation(name, value);
                }
                else request.Headers.TryAddWithoutValidation(name, value);
            }
            request.Headers.TryAddWithoutValidation("Authorization", SigV4.Authorization(method.Method, path, query, signed,
                payloadHash, now, _endpoint.EffectiveRegion, _endpoint.AccessKey, _endpoint.SecretKey));

            Counters.CountRequest(method, body?.Length ?? 0);
            string failure;
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel))
            {
                timeout.CancelAfter(_options.RequestTimeout);
                try
                {
                    using var response = _http.Send(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                    var bytes = ReadBody(response, timeout.Token);
                    Counters.CountDownload(bytes.Length);
                    if (bytes.Length > 0 && _rateIn != null) Wait(_rateIn.Take(bytes.Length));
                    var status = response.StatusCode;
                    var result = new Response(status, bytes, response.Content.Headers.ContentLength,
                        response.Content.Headers.LastModified, response.Headers.ETag?.Tag);
                    if (!IsTransient(status, bytes)) return result;
                    failure = Describe(method, key ?? Bucket, result);
                }
                catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
                {
                    failure = $"S3 {method} '{key ?? Bucket}' timed out after {_options.RequestTimeout.TotalSeconds:0.###} s";
                }
                catch (HttpRequestException e) when (Innermost(e) is System.Security.Authentication.AuthenticationException auth)
                {
                    // A wrong certificate does not heal by retrying.
                    throw new PbsException("S3TlsFailed", PbsErrorKind.SecurityError,
                        $"S3 endpoint '{_endpoint.Id}' ({_host}): TLS handshake failed - {auth.Message}" +
                        (_endpoint.Fingerprint is null ? "" : " (the server certificate does not match the configured fingerprint)"),
                        _host, e);
                }
                catch (Exception e) when (e is HttpRequestException or IOException)
                {
                    failure = $"S3 {method} '{key ?? Bucket}' failed - {Innermost(e).Message}";
                }
            }
            if (attempt >= _options.MaxAttempts)
                throw new PbsException("S3RequestFailed", PbsErrorKind.ReadError,
                    $"{failure} (gave up after {attempt} attempts)", key ?? Bucket);
            Counters.CountRetry();
            var backoff = _options.BaseDelay * Math.Pow(2, attempt - 1);
            if (backoff > _options.MaxDelay) backoff = _options.MaxDelay;
            Wait(backoff * (0.5 + Random.Shared.NextDouble() / 2));
        }
    }

    private static byte[] ReadBody(HttpResponseMessage response, CancellationToken cancel)
    {
        using var stream = response.Content.ReadAsStream(cancel);
        using var buffer = new MemoryStream(response.Content.Headers.ContentLength is { } n and < int.MaxValue ? (int)n : 0);
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }

    // 5xx (SlowDown is a 503), 429 and S3's RequestTimeout (400) are worth another try; other 4xx are final.
    private static bool IsTransient(HttpStatusCode status, byte[] body)
        => (int)status >= 500 || status == HttpStatusCode.TooManyRequests
           || (status == HttpStatusCode.BadRequest && ErrorCode(body) == "RequestTimeout");

    private void Wait(TimeSpan delay)
    {
        if (delay > TimeSpan.Zero && _options.Cancellation.WaitHandle.WaitOne(delay))
            _options.Cancellation.ThrowIfCancellationRequested();
    }

    private static string CheckKey(string key)
    {
        if (key.Length == 0 || Encoding.UTF8.GetByteCount(key) > MaxKeyBytes)
            throw new PbsException("S3KeyInvalid", PbsErrorKind.InvalidArgument,
                $"S3 key '{key}' is empty or longer than {MaxKeyBytes} bytes", key);
        return key;
    }

    private XDocument ParseXml(Response r, HttpMethod method, string target)
    {
        try { return XDocument.Parse(Encoding.UTF8.GetString(r.Body)); }
        catch (System.Xml.XmlException e)
        {
            throw new PbsException("S3InvalidResponse", PbsErrorKind.ReadError,
                $"S3 {method} '{target}' in bucket '{Bucket}': unreadable XML response - {e.Message}", target, e);
        }
    }

    private static string? Child(XElement e, string name) => e.Elements().FirstOrDefault(c => c.Name.LocalName == name)?.Value;

    private static string? ErrorCode(byte[] body)
    {
        if (body.Length == 0) return null;
        try { return Child(XDocument.Parse(Encoding.UTF8.GetString(body)).Root!, "Code"); }
        catch (System.Xml.XmlException) { return null; }
    }

    private string Describe(HttpMethod method, string target, Response r)
    {
        var code = ErrorCode(r.Body);
        string? message = null;
        try { if (r.Body.Length > 0) message = Child(XDocument.Parse(Encoding.UTF8.GetString(r.Body)).Root!, "Message"); }
        catch (System.Xml.XmlException) { }
        return $"S3 {method} '{target}' in bucket '{Bucket}' failed - {(int)r.Status} {code ?? r.Status.ToString()}{(message is null ? "" : ": " + message)}";
    }

    private PbsException Failure(HttpMethod method, string target, Response r)
    {
        var kind = r.Status switch
        {
            HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized => PbsErrorKind.PermissionDenied,
            HttpStatusCode.NotFound => PbsErrorKind.ObjectNotFound,
            _ => method == HttpMethod.Get || method == HttpMethod.Head ? PbsErrorKind.ReadError : PbsErrorKind.WriteError,
        };
        return new PbsException("S3RequestFailed", kind, Describe(method, target, r), target);
    }

    private static Exception Innermost(Exception e) => e.InnerException is { } inner ? Innermost(inner) : e;

    public void Dispose() => _http.Dispose();
}
