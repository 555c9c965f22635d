using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.S3;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.S3;

public class S3ConfigTests
{
    private const string Sample = """
        s3-endpoint: aws-eu
        	access-key AKIAEXAMPLE
        	endpoint {{bucket}}.s3.{{region}}.amazonaws.com
        	region eu-central-1
        	secret-key c2VjcmV0
        	put-rate-limit 100
        	rate-in 10 MiB
        	burst-in 20MiB
        	rate-out 1.5G
        	burst-out 2000000

        s3client: minio
        	access-key minio
        	endpoint 192.168.1.10
        	fingerprint AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89
        	path-style true
        	port 9000
        	provider-quirks skip-if-none-match-header
        	provider-quirks delete-objects-via-delete-object
        	secret-key minio123
        """;

    [Fact]
    public void Parses_endpoints_with_limits_quirks_and_the_old_section_type()
    {
        var cfg = S3EndpointConfig.Parse(Sample);
        var aws = cfg.Get("aws-eu");
        Assert.Equal("{{bucket}}.s3.{{region}}.amazonaws.com", aws.Endpoint);
        Assert.Equal(("eu-central-1", "AKIAEXAMPLE", "c2VjcmV0"), (aws.Region, aws.AccessKey, aws.SecretKey));
        Assert.False(aws.PathStyle);
        Assert.Null(aws.Port);
        Assert.Null(aws.Fingerprint);
        Assert.Equal(100UL, aws.PutRateLimit);
        Assert.Equal((10UL << 20, 20UL << 20, (ulong)(1.5 * (1 << 30)), 2_000_000UL), (aws.RateIn, aws.BurstIn, aws.RateOut, aws.BurstOut));
        Assert.Equal(S3ProviderQuirks.None, aws.ProviderQuirks);
        Assert.DoesNotContain("c2VjcmV0", aws.ToString());

        var minio = cfg.Get("minio");
        Assert.True(minio.PathStyle);
        Assert.Equal(9000, minio.Port);
        Assert.Equal(S3Endpoint.DefaultRegion, minio.EffectiveRegion);
        Assert.Equal("ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89", minio.Fingerprint);
        Assert.Equal(S3ProviderQuirks.SkipIfNoneMatchHeader | S3ProviderQuirks.DeleteObjectsViaDeleteObject, minio.ProviderQuirks);
        Assert.Null(minio.RateIn);
    }

    [Fact]
    public void Addressing_style_and_templates_decide_the_host()
    {
        var cfg = S3EndpointConfig.Parse(Sample);
        using (var vhost = new S3Client(cfg.Get("aws-eu"), "my-bucket")) Assert.Equal("my-bucket.s3.eu-central-1.amazonaws.com", vhost.Host);
        using (var path = new S3Client(cfg.Get("minio"), "my-bucket")) Assert.Equal("192.168.1.10:9000", path.Host);
        var plain = S3EndpointConfig.Parse("s3-endpoint: plain\n\taccess-key a\n\tendpoint s3.example.net\n\tsecret-key b\n").Get("plain");
        using var prefixed = new S3Client(plain, "bkt");
        Assert.Equal("bkt.s3.example.net", prefixed.Host);
    }

    [Theory]
    [InlineData("s3-endpoint: ep1\n\taccess-key a\n\tsecret-key b\n", "missing property 'endpoint'")]
    [InlineData("s3-endpoint: ep1\n\tendpoint h\n\tsecret-key b\n", "missing property 'access-key'")]
    [InlineData("s3-endpoint: ep1\n\tendpoint h\n\taccess-key a\n\tsecret-key b\n\tport 70000\n", "invalid 'port'")]
    [InlineData("s3-endpoint: ep1\n\tendpoint h\n\taccess-key a\n\tsecret-key b\n\tfingerprint 12:34\n", "invalid 'fingerprint'")]
    [InlineData("s3-endpoint: ep1\n\tendpoint h\n\taccess-key a\n\tsecret-key b\n\tpath-style maybe\n", "invalid 'path-style'")]
    [InlineData("s3-endpoint: ep1\n\tendpoint h\n\taccess-key a\n\tsecret-key b\n\tprovider-quirks fast\n", "invalid 'provider-quirks'")]
    [InlineData("s3-endpoint: ep1\n\tendpoint h\n\taccess-key a\n\tsecret-key b\n\trate-in lots\n", "invalid 'rate-in'")]
    [InlineData("s3-endpoint: ep1\n\tendpoint h\n\taccess-key a\n\tsecret-key b\n\tregion EU\n", "invalid 'region'")]
    [InlineData("s3-endpoint: ep1\n\tendpoint https://h\n\taccess-key a\n\tsecret-key b\n", "invalid 'endpoint'")]
    [InlineData("s3-endpoint: ep1\n\tendpoint h\n\tendpoint g\n\taccess-key a\n\tsecret-key b\n", "duplicate property 'endpoint'")]
    [InlineData("s3-endpoint: ep1\n\tendpoint h\n\tbucket b\n", "unknown property 'bucket'")]
    [InlineData("s3-endpoint: x\n\tendpoint h\n", "invalid s3-endpoint name")]
    [InlineData("datastore: ep1\n\tpath /x\n", "unknown section type 'datastore'")]
    public void Invalid_files_are_refused_with_the_line(string text, string message)
    {
        var e = Assert.Throws<PbsException>(() => S3EndpointConfig.Parse(text));
        Assert.Equal("S3ConfigInvalid", e.ErrorId);
        Assert.Equal(PbsErrorKind.InvalidData, e.Kind);
        Assert.Contains(message, e.Message);
        Assert.StartsWith("s3.cfg:", e.Message);
    }

    [Fact]
    public void Loads_from_the_overridable_config_root()
    {
        using var dir = new TempDir();
        var saved = PbsPaths.ConfigRoot;
        try
        {
            PbsPaths.ConfigRoot = dir.Path;
            var missing = Assert.Throws<PbsException>(() => S3EndpointConfig.Load());
            Assert.Equal(("S3ConfigNotFound", PbsErrorKind.ObjectNotFound), (missing.ErrorId, missing.Kind));
            File.WriteAllText(Path.Combine(dir.Path, "s3.cfg"), Sample);
            var cfg = S3EndpointConfig.Load();
            Assert.Equal(Path.Combine(dir.Path, "s3.cfg"), cfg.Path);
            Assert.Equal(["aws-eu", "minio"], cfg.Endpoints.Select(e => e.Id));
            var none = Assert.Throws<PbsException>(() => cfg.Get("nope"));
            Assert.Equal(("S3EndpointNotConfigured", PbsErrorKind.ObjectNotFound), (none.ErrorId, none.Kind));
        }
        finally { PbsPaths.ConfigRoot = saved; }
    }

    [Fact]
    public void Datastore_backend_property()
    {
        var cfg = DatastoreConfig.Parse("""
            datastore: s3store
            	backend type=s3,client=aws-eu,bucket=pbs-offsite,max-cache-size=64GiB
            	path /var/cache/pbs-s3

            datastore: plain
            	backend filesystem
            	path /srv/plain

            datastore: default
            	path /srv/default
            """);
        var s3 = cfg.Get("s3store").Backend;
        Assert.True(s3.IsS3);
        Assert.Equal(("s3", "aws-eu", "pbs-offsite", 64UL << 30), (s3.Type, s3.Client, s3.Bucket, s3.MaxCacheSize));
        Assert.Equal("s3", cfg.Get("s3store").BackendType);
        Assert.Same(DatastoreBackend.Filesystem, cfg.Get("plain").Backend);
        Assert.Same(DatastoreBackend.Filesystem, cfg.Get("default").Backend);
    }

    [Theory]
    [InlineData("type=s3,bucket=b1b", "needs 'client'")]
    [InlineData("type=s3,client=aws", "needs 'bucket'")]
    [InlineData("type=s3,client=aws,bucket=a/b", "invalid bucket name")]
    [InlineData("type=s3,client=a,bucket=bkt", "invalid client")]
    [InlineData("type=s3,client=aws,bucket=bkt,max-cache-size=huge", "invalid max-cache-size")]
    [InlineData("type=filesystem,bucket=bkt", "takes no other keys")]
    [InlineData("type=s3,client=aws,bucket=bkt,region=x", "unknown key 'region'")]
    [InlineData("type=ceph", "unknown type")]
    public void Invalid_backend_values_are_refused(string value, string message)
    {
        var e = Assert.Throws<PbsException>(() => DatastoreConfig.Parse($"datastore: st1\n\tbackend {value}\n\tpath /x\n"));
        Assert.Equal("DatastoreConfigInvalid", e.ErrorId);
        Assert.Contains(message, e.Message);
    }

    [Theory]
    [InlineData("4096", 4096UL)]
    [InlineData("1.5 KiB", 1536UL)]
    [InlineData("2M", 2UL << 20)]
    [InlineData("3 MB", 3_000_000UL)]
    [InlineData("1TiB", 1UL << 40)]
    [InlineData("10 B", 10UL)]
    public void Human_byte_sizes(string text, ulong bytes) => Assert.Equal(bytes, HumanByte.TryParse(text));

    [Theory]
    [InlineData("")]
    [InlineData("MiB")]
    [InlineData("-1 MiB")]
    [InlineData("1 XB")]
    public void Malformed_sizes(string text) => Assert.Null(HumanByte.TryParse(text));
}
