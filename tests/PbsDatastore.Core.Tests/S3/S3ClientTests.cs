using System.Diagnostics;
using System.Security.Cryptography;
using PbsDatastore.Core.S3;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.S3;

/// <summary>The S3 client against a real S3-compatible server (s3rver over HTTPS with a pinned certificate).</summary>
[Collection(S3ServerCollection.Name)]
public class S3ClientTests(S3TestServer server)
{
    private static string Prefix() => $"t{Guid.NewGuid():N}/";

    [Fact]
    public void Put_get_head_delete_round_trip_with_counters()
    {
        using var client = server.Client();
        client.HeadBucket();
        var key = Prefix() + ".chunks/abcd/" + new string('a', 64);
        var data = RandomNumberGenerator.GetBytes(70_000);
        Assert.True(client.PutObject(key, data));
        Assert.Equal(data, client.GetObject(key));
        var head = client.HeadObject(key)!;
        Assert.Equal(data.Length, head.Size);
        Assert.Equal($"\"{Convert.ToHexStringLower(MD5.HashData(data))}\"", head.ETag);
        client.DeleteObject(key);
        Assert.Null(client.GetObject(key));
        Assert.Null(client.HeadObject(key));
        client.DeleteObject(key); // deleting a missing object is fine

        var c = client.Counters.Snapshot();
        Assert.Equal((1L, 2L, 3L, 2L, 0L), (c.Put, c.Get, c.Head, c.Delete, c.Post));
        Assert.Equal(data.Length, c.Uploaded);
        Assert.True(c.Downloaded >= data.Length, $"downloaded {c.Downloaded}");
        Assert.Equal(0, c.Retries);
    }

    [Fact]
    public void Keys_with_special_characters_survive_signing_and_listing()
    {
        using var client = server.Client();
        var prefix = Prefix();
        string[] keys = [prefix + ".cnt/ns/a b/vm/100/owner", prefix + ".cnt/host/ü+x=y&z/notes", prefix + ".in-use"];
        foreach (var k in keys) client.PutObject(k, "x"u8.ToArray());
        Assert.Equal(keys.Order(StringComparer.Ordinal), client.ListObjects(prefix).Select(o => o.Key));
        foreach (var k in keys) Assert.Equal("x"u8.ToArray(), client.GetObject(k));
    }

    [Fact]
    public void Listing_follows_continuation_tokens()
    {
        using var client = server.Client();
        var prefix = Prefix();
        var keys = Enumerable.Range(0, 23).Select(i => $"{prefix}.chunks/{i:x4}/{i:x64}").ToList();
        foreach (var k in keys) client.PutObject(k, [1, 2, 3]);
        client.PutObject(prefix.TrimEnd('/') + "0/outside", [1]); // shares the prefix without the '/'
        var before = client.Counters.Snapshot();
        var listed = client.ListObjects(prefix, pageSize: 5).ToList();
        Assert.Equal(keys, listed.Select(o => o.Key));
        Assert.All(listed, o => Assert.Equal(3, o.Size));
        Assert.Equal(5, (client.Counters.Snapshot() - before).Get); // 5+5+5+5+3

        var page = client.ListObjectsPage(prefix, null, 10);
        Assert.Equal(10, page.Objects.Count);
        Assert.NotNull(page.NextContinuationToken);
    }

    [Fact]
    public void Delete_objects_in_one_request_per_batch()
    {
        using var client = server.Client();
        var prefix = Prefix();
        var keys = Enumerable.Range(0, 30).Select(i => $"{prefix}k{i:d3}").ToList();
        foreach (var k in keys) client.PutObject(k, [7]);
        var before = client.Counters.Snapshot();
        Assert.Empty(client.DeleteObjects(keys.Take(20).ToList()));
        var used = client.Counters.Snapshot() - before;
        Assert.Equal((1L, 0L), (used.Post, used.Delete));
        Assert.Equal(keys.Skip(20), client.ListObjects(prefix).Select(o => o.Key));
        Assert.Throws<ArgumentException>(() => client.DeleteObjects(Enumerable.Range(0, 1001).Select(i => $"{prefix}{i}").ToList()));
    }

    [Fact]
    public void Provider_quirk_deletes_one_object_per_request()
    {
        var endpoint = server.Endpoint(extra: "\tprovider-quirks delete-objects-via-delete-object\n");
        using var client = server.Client(endpoint: endpoint);
        var prefix = Prefix();
        var keys = Enumerable.Range(0, 4).Select(i => $"{prefix}k{i}").ToList();
        foreach (var k in keys) client.PutObject(k, [7]);
        Assert.Empty(client.DeleteObjects(keys));
        var c = client.Counters.Snapshot();
        Assert.Equal((0L, 4L), (c.Post, c.Delete));
        Assert.Empty(client.ListObjects(prefix));
    }

    [Fact]
    public void Copy_object_within_the_bucket()
    {
        using var client = server.Client();
        var prefix = Prefix();
        var data = RandomNumberGenerator.GetBytes(1234);
        client.PutObject(prefix + ".cnt/vm/100/2024-03-01T10:00:00Z/index.json.blob", data);
        client.CopyObject(prefix + ".cnt/vm/100/2024-03-01T10:00:00Z/index.json.blob", prefix + ".cnt/ns/x/vm/100/2024-03-01T10:00:00Z/index.json.blob");
        Assert.Equal(data, client.GetObject(prefix + ".cnt/ns/x/vm/100/2024-03-01T10:00:00Z/index.json.blob"));
        var e = Assert.Throws<PbsException>(() => client.CopyObject(prefix + "missing", prefix + "target"));
        Assert.Equal("S3RequestFailed", e.ErrorId);
        Assert.Equal(PbsErrorKind.ObjectNotFound, e.Kind);
    }

    [Fact]
    public void Virtual_host_addressing_with_bucket_template()
    {
        var endpoint = server.Endpoint(vhost: true);
        // BUCKET.s3.localhost does not resolve everywhere: connect to the server whatever the host name says.
        var transport = (SocketsHttpHandler)S3Client.CreateTransport(endpoint);
        transport.ConnectCallback = async (_, cancel) =>
        {
            var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            await socket.ConnectAsync(System.Net.IPAddress.Loopback, server.Port, cancel);
            return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
        };
        using var client = server.Client(endpoint: endpoint, transport: transport);
        Assert.Equal($"{S3TestServer.Bucket}.s3.localhost:{server.Port}", client.Host);
        var key = Prefix() + "vhost";
        client.PutObject(key, [1, 2]);
        Assert.Equal([1, 2], client.GetObject(key)!);
        using var pathStyle = server.Client();
        Assert.Equal([1, 2], pathStyle.GetObject(key)!); // the same bucket
    }

    [Fact]
    public void Buckets_are_separate_and_a_missing_bucket_is_an_error()
    {
        var key = Prefix() + "only-here";
        using (var client = server.Client()) client.PutObject(key, [1]);
        using (var other = server.Client(S3TestServer.OtherBucket)) Assert.Null(other.GetObject(key));
        using var missing = server.Client("no-such-bucket");
        var e = Assert.Throws<PbsException>(missing.HeadBucket);
        Assert.Equal("S3RequestFailed", e.ErrorId);
        Assert.Equal(PbsErrorKind.ObjectNotFound, e.Kind);
    }

    [Fact]
    public void A_certificate_that_does_not_match_the_fingerprint_is_refused_without_retries()
    {
        var wrong = server.S3ConfigSection().Replace(server.Fingerprint, string.Join(':', Enumerable.Repeat("00", 32)));
        var endpoint = S3EndpointConfig.Parse(wrong).Get("test-s3");
        using var client = server.Client(endpoint: endpoint);
        var e = Assert.Throws<PbsException>(client.HeadBucket);
        Assert.Equal("S3TlsFailed", e.ErrorId);
        Assert.Equal(PbsErrorKind.SecurityError, e.Kind);
        Assert.Contains("fingerprint", e.Message);
        Assert.Equal(1, client.Counters.Snapshot().Head);

        // Without a fingerprint the self-signed certificate fails the CA check.
        var unpinned = S3EndpointConfig.Parse(string.Join('\n', server.S3ConfigSection().Split('\n').Where(l => !l.Contains("fingerprint")))).Get("test-s3");
        using var plain = server.Client(endpoint: unpinned);
        Assert.Equal("S3TlsFailed", Assert.Throws<PbsException>(plain.HeadBucket).ErrorId);
    }

    [Theory]
    [InlineData(S3Fault.InternalError)]
    [InlineData(S3Fault.SlowDown)]
    [InlineData(S3Fault.ConnectionReset)]
    [InlineData(S3Fault.Timeout)]
    public void Transient_failures_are_retried_with_backoff(S3Fault fault)
    {
        var endpoint = server.Endpoint();
        var faults = new FaultInjectingHandler(S3Client.CreateTransport(endpoint));
        using var client = server.Client(endpoint: endpoint, transport: faults,
            options: S3TestServer.FastRetries with { RequestTimeout = TimeSpan.FromMilliseconds(fault == S3Fault.Timeout ? 1000 : 30_000) });
        var key = Prefix() + "retried";
        faults.Inject(r => r.Method == HttpMethod.Put, fault, times: 2);
        Assert.True(client.PutObject(key, [9, 9]));
        faults.Inject(r => r.Method == HttpMethod.Get, fault, times: 3);
        Assert.Equal([9, 9], client.GetObject(key)!);
        var c = client.Counters.Snapshot();
        Assert.Equal((3L, 4L, 5L), (c.Put, c.Get, c.Retries));
        Assert.Equal(5, faults.Injected);
    }

    [Fact]
    public void Persistent_failures_give_up_after_the_configured_attempts()
    {
        var endpoint = server.Endpoint();
        var faults = new FaultInjectingHandler(S3Client.CreateTransport(endpoint));
        using var client = server.Client(endpoint: endpoint, transport: faults, options: S3TestServer.FastRetries with { MaxAttempts = 4 });
        faults.Inject(_ => true, S3Fault.SlowDown, times: 100);
        var e = Assert.Throws<PbsException>(() => client.GetObject(Prefix() + "x"));
        Assert.Equal("S3RequestFailed", e.ErrorId);
        Assert.Contains("503 SlowDown", e.Message);
        Assert.Contains("gave up after 4 attempts", e.Message);
        Assert.Equal(4, client.Counters.Snapshot().Get);
    }

    [Fact]
    public void Client_errors_are_not_retried()
    {
        var wrongKey = server.S3ConfigSection().Replace("access-key S3RVER", "access-key NOBODY");
        using var client = server.Client(endpoint: S3EndpointConfig.Parse(wrongKey).Get("test-s3"));
        var e = Assert.Throws<PbsException>(() => client.PutObject(Prefix() + "x", [1]));
        Assert.Equal(PbsErrorKind.PermissionDenied, e.Kind);
        Assert.Contains("InvalidAccessKeyId", e.Message);
        Assert.Equal(1, client.Counters.Snapshot().Put);
    }

    [Fact]
    public void No_replace_uploads_send_if_none_match_unless_the_quirk_says_otherwise()
    {
        var endpoint = server.Endpoint();
        var faults = new FaultInjectingHandler(S3Client.CreateTransport(endpoint));
        using var client = server.Client(endpoint: endpoint, transport: faults);
        var key = Prefix() + "chunk";
        Assert.True(client.PutObject(key, [1], replace: false));
        faults.Inject(r => r.Method == HttpMethod.Put, S3Fault.PreconditionFailed);
        Assert.False(client.PutObject(key, [2], replace: false));
        client.PutObject(key, [3]);
        Assert.Equal(["*", "*", null], faults.Requests.Where(r => r.Method == "PUT").Select(r => r.Headers.GetValueOrDefault("if-none-match")));
        Assert.All(faults.Requests, r => Assert.Equal("application/octet-stream", r.Headers["content-type"]));

        var quirky = server.Endpoint(extra: "\tprovider-quirks skip-if-none-match-header\n");
        var seen = new FaultInjectingHandler(S3Client.CreateTransport(quirky));
        using var quirkClient = server.Client(endpoint: quirky, transport: seen);
        Assert.True(quirkClient.PutObject(key, [4], replace: false));
        Assert.False(seen.Requests.Single().Headers.ContainsKey("if-none-match"));
    }

    [Fact]
    public void Put_rate_limit_spaces_uploads()
    {
        using var client = server.Client(endpoint: server.Endpoint(extra: "\tput-rate-limit 20\n"));
        var prefix = Prefix();
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < 30; i++) client.PutObject($"{prefix}{i}", [1]);
        // 20 go out at once (one second's burst), the other 10 at 20/s.
        Assert.True(sw.Elapsed >= TimeSpan.FromMilliseconds(450), $"30 PUTs at 20/s took {sw.Elapsed}");
    }

    [Fact]
    public void Keys_longer_than_s3_allows_are_refused_before_sending()
    {
        using var client = server.Client();
        var e = Assert.Throws<PbsException>(() => client.PutObject(new string('k', 1025), [1]));
        Assert.Equal("S3KeyInvalid", e.ErrorId);
        Assert.Equal(0, client.Counters.Snapshot().Requests);
    }
}
