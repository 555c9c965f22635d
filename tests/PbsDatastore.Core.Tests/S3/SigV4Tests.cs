using PbsDatastore.Core.S3;

namespace PbsDatastore.Core.Tests.S3;

/// <summary>The signer against the worked examples of AWS's S3 SigV4 documentation (header-based authentication).</summary>
public class SigV4Tests
{
    private const string AccessKey = "AKIAIOSFODNN7EXAMPLE";
    private const string SecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    private static readonly DateTime Date = new(2013, 5, 24, 0, 0, 0, DateTimeKind.Utc);

    private static string Sign(string method, string path, (string, string)[] query, (string, string)[] headers, string payloadHash)
        => SigV4.Authorization(method, path, query.Select(q => new KeyValuePair<string, string>(q.Item1, q.Item2)),
            headers.Select(h => new KeyValuePair<string, string>(h.Item1, h.Item2)), payloadHash, Date, "us-east-1", AccessKey, SecretKey);

    [Fact]
    public void Get_object_with_range()
    {
        var auth = Sign("GET", "/test.txt", [],
            [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"), ("x-amz-content-sha256", SigV4.EmptyPayloadHash), ("x-amz-date", "20130524T000000Z")],
            SigV4.EmptyPayloadHash);
        Assert.Equal("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
                     "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date," +
                     "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", auth);
    }

    [Fact]
    public void Put_object_with_encoded_key_and_payload()
    {
        var body = "Welcome to Amazon S3."u8.ToArray();
        var hash = SigV4.PayloadHash(body);
        Assert.Equal("44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072", hash);
        var auth = Sign("PUT", "/" + SigV4.UriEncode("test$file.text", false), [],
            [("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("Host", "examplebucket.s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"),
             ("x-amz-storage-class", "REDUCED_REDUNDANCY"), ("x-amz-content-sha256", hash)], hash);
        Assert.EndsWith("SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class," +
                        "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd", auth);
    }

    [Fact]
    public void List_objects_with_query()
    {
        var auth = Sign("GET", "/", [("max-keys", "2"), ("prefix", "J")],
            [("Host", "examplebucket.s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"), ("x-amz-content-sha256", SigV4.EmptyPayloadHash)],
            SigV4.EmptyPayloadHash);
        Assert.EndsWith("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7", auth);
    }

    [Fact]
    public void Subresource_without_value()
    {
        var auth = Sign("GET", "/", [("lifecycle", "")],
            [("Host", "examplebucket.s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"), ("x-amz-content-sha256", SigV4.EmptyPayloadHash)],
            SigV4.EmptyPayloadHash);
        Assert.EndsWith("Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543", auth);
    }

    [Theory]
    [InlineData("a b/c", false, "a%20b/c")]
    [InlineData("a b/c", true, "a%20b%2Fc")]
    [InlineData("ü~-_.*", false, "%C3%BC~-_.%2A")]
    public void Uri_encoding_follows_s3_rules(string raw, bool encodeSlash, string expected)
        => Assert.Equal(expected, SigV4.UriEncode(raw, encodeSlash));
}
