using System.Net;
using System.Text;
using System.Xml.Linq;

namespace PbsDatastore.Core.Tests.Support;

/// <summary>What <see cref="FaultInjectingHandler"/> does to a matching request.</summary>
public enum S3Fault
{
    /// <summary>Answers 500 InternalError without reaching the server.</summary>
    InternalError,
    /// <summary>Answers 503 SlowDown without reaching the server.</summary>
    SlowDown,
    /// <summary>Never answers (until the client's per-request timeout cancels it).</summary>
    Timeout,
    /// <summary>The connection breaks before an answer.</summary>
    ConnectionReset,
    /// <summary>Forwards, then drops the last half of the listed keys and claims the listing is complete.</summary>
    PartialListing,
    /// <summary>Answers 412 PreconditionFailed (what S3 says to a no-replace upload of an existing key).</summary>
    PreconditionFailed,
    /// <summary>Forwards the request, then throws away the answer as if the connection broke after the server acted.</summary>
    LostResponse,
}

/// <summary>
/// A transport wrapper between an S3 client and s3rver that injects faults by rule (which requests, what, how
/// often) and records every request it sees, so tests can prove retries, backoff and that no referenced object is
/// deleted under failures.
/// </summary>
public sealed class FaultInjectingHandler : DelegatingHandler
{
    private readonly object _gate = new();
    private readonly List<Rule> _rules = new();
    private readonly List<S3RequestRecord> _log = new();

    public FaultInjectingHandler(HttpMessageHandler inner) : base(inner) { }

    private sealed class Rule(Func<HttpRequestMessage, bool> match, S3Fault fault, int times)
    {
        public Func<HttpRequestMessage, bool> Match { get; } = match;
        public S3Fault Fault { get; } = fault;
        public int Remaining { get; set; } = times;
    }

    /// <summary>Injects <paramref name="fault"/> into the next <paramref name="times"/> requests that match.</summary>
    public FaultInjectingHandler Inject(Func<HttpRequestMessage, bool> match, S3Fault fault, int times = 1)
    {
        lock (_gate) _rules.Add(new Rule(match, fault, times));
        return this;
    }

    /// <summary>Every request seen, faulted or not.</summary>
    public IReadOnlyList<S3RequestRecord> Requests { get { lock (_gate) return _log.ToArray(); } }

    public int Injected { get; private set; }

    public static bool IsListing(HttpRequestMessage r) => r.Method == HttpMethod.Get && r.RequestUri!.Query.Contains("list-type=2");
    public static bool IsDeleteObjects(HttpRequestMessage r) => r.Method == HttpMethod.Post && r.RequestUri!.Query.Contains("delete");

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var fault = Next(request);
        if (fault is { } f && Synthetic(f, request, cancellationToken) is { } synthetic) return synthetic;
        var response = base.Send(request, cancellationToken);
        return fault is { } after ? After(after, response) : response;
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var fault = Next(request);
        if (fault is { } f && Synthetic(f, request, cancellationToken) is { } synthetic) return synthetic;
        var response = await base.SendAsync(request, cancellationToken);
        return fault is { } after ? After(after, response) : response;
    }

    private S3Fault? Next(HttpRequestMessage request)
    {
        lock (_gate)
        {
            _log.Add(new S3RequestRecord(request.Method.Method, Uri.UnescapeDataString(request.RequestUri!.AbsolutePath),
                request.RequestUri.Query, request.Headers.Concat(request.Content?.Headers ?? Enumerable.Empty<KeyValuePair<string, IEnumerable<string>>>())
                    .ToDictionary(h => h.Key.ToLowerInvariant(), h => string.Join(",", h.Value))));
            var rule = _rules.FirstOrDefault(r => r.Remaining > 0 && r.Match(request));
            if (rule == null) return null;
            rule.Remaining--;
            Injected++;
            return rule.Fault;
        }
    }

    private static HttpResponseMessage? Synthetic(S3Fault fault, HttpRequestMessage request, CancellationToken cancel)
    {
        switch (fault)
        {
            case S3Fault.InternalError:
                return Error(HttpStatusCode.InternalServerError, "InternalError", "injected internal error", request);
            case S3Fault.SlowDown:
                return Error(HttpStatusCode.ServiceUnavailable, "SlowDown", "Please reduce your request rate.", request);
            case S3Fault.PreconditionFailed:
                return Error(HttpStatusCode.PreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", request);
            case S3Fault.Timeout:
                cancel.WaitHandle.WaitOne();
                cancel.ThrowIfCancellationRequested();
                throw new InvalidOperationException("unreachable");
            case S3Fault.ConnectionReset:
                throw new HttpRequestException("injected: connection reset by peer", new IOException("Connection reset by peer"));
            default:
                return null;
        }
    }

    private static HttpResponseMessage After(S3Fault fault, HttpResponseMessage response)
    {
        if (fault == S3Fault.LostResponse)
        {
            response.Dispose();
            throw new HttpRequestException("injected: connection lost after the server acted", new IOException("Connection reset by peer"));
        }
        // PartialListing
        var doc = XDocument.Parse(response.Content.ReadAsStringAsync().GetAwaiter().GetResult());
        var contents = doc.Root!.Elements().Where(e => e.Name.LocalName == "Contents").ToList();
        foreach (var c in contents.Skip((contents.Count + 1) / 2)) c.Remove();
        foreach (var e in doc.Root.Elements().Where(e => e.Name.LocalName is "NextContinuationToken").ToList()) e.Remove();
        if (doc.Root.Elements().FirstOrDefault(e => e.Name.LocalName == "IsTruncated") is { } truncated) truncated.Value = "false";
        var replaced = new HttpResponseMessage(response.StatusCode)
        {
            Content = new StringContent(doc.ToString(), Encoding.UTF8, "application/xml"),
            RequestMessage = response.RequestMessage,
        };
        response.Dispose();
        return replaced;
    }

    private static HttpResponseMessage Error(HttpStatusCode status, string code, string message, HttpRequestMessage request)
        => new(status)
        {
            Content = new StringContent($"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>",
                Encoding.UTF8, "application/xml"),
            RequestMessage = request,
        };
}

/// <summary>A request as the fault wrapper saw it (path unescaped).</summary>
public sealed record S3RequestRecord(string Method, string Path, string Query, IReadOnlyDictionary<string, string> Headers)
{
    public override string ToString() => $"{Method} {Path}{Query}";
}
