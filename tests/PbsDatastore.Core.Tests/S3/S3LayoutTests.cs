using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.S3;
using PbsDatastore.Core.Store;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.S3;

/// <summary>PBS 4.2's key layout (addendum §4.2) and the two upstream hazards of §4.6/§4.7 done right.</summary>
public class S3LayoutTests
{
    private static readonly ChunkDigest Digest = ChunkDigest.Parse("298ad4340388916a1d3845241f8a9370c09780a941714b3e5cb3940409e24174");
    private readonly S3Keys _keys = new("store1");

    [Fact]
    public void Keys_carry_the_datastore_name_and_the_on_disk_paths()
    {
        var prodDb = BackupNamespace.Parse("prod/db");
        Assert.Equal("store1/.chunks/298a/298ad4340388916a1d3845241f8a9370c09780a941714b3e5cb3940409e24174", _keys.Chunk(Digest));
        Assert.Equal("store1/.chunks/298a/298ad4340388916a1d3845241f8a9370c09780a941714b3e5cb3940409e24174.3.bad", _keys.BadChunk(Digest, 3));
        Assert.Equal("store1/.in-use", _keys.InUseMarker);
        Assert.Equal("store1/.cnt/vm/100/owner", _keys.Content("vm/100/owner"));
        Assert.Equal("store1/.cnt/ns/prod/ns/db/.namespace", _keys.Content($"{prodDb.RelativePath}/{S3Keys.NamespaceMarkerName}"));
        Assert.Equal("store1/.cnt/ns/prod/ns/db/ct/300/2024-03-01T03:00:00Z/",
            _keys.ContentDirPrefix($"{prodDb.RelativePath}/ct/300/2024-03-01T03:00:00Z"));
        Assert.Equal("store1/.cnt/ns/prod/ns/db/ct/300/2024-03-01T03:00:00Z/index.json.blob", _keys.Content("ns/prod/ns/db/ct/300/2024-03-01T03:00:00Z/index.json.blob"));
        Assert.Equal("ns/prod/vm/101/notes", _keys.RelativePathOf("store1/.cnt/ns/prod/vm/101/notes"));
        Assert.Null(_keys.RelativePathOf("store10/.cnt/vm/100/owner"));
        Assert.Null(_keys.RelativePathOf("store1/.chunks/298a/x"));
    }

    [Fact]
    public void Prefix_deletes_always_end_in_a_slash()
    {
        var group = _keys.ContentDirPrefix("vm/100");
        var ns = _keys.ContentDirPrefix(BackupNamespace.Parse("a").RelativePath);
        Assert.Equal("store1/.cnt/vm/100/", group);
        Assert.Equal("store1/.cnt/ns/a/", ns);
        Assert.Equal("store1/.cnt/", _keys.ContentDirPrefix(BackupNamespace.Root.RelativePath));
        // The upstream hazard: without the '/' these prefixes also match other groups and namespaces.
        Assert.False(_keys.Content("vm/1000/owner").StartsWith(group, StringComparison.Ordinal));
        Assert.False(_keys.Content("vm/100-x/owner").StartsWith(group, StringComparison.Ordinal));
        Assert.False(_keys.Content("ns/ab/.namespace").StartsWith(ns, StringComparison.Ordinal));
        Assert.StartsWith(group, _keys.Content("vm/100/owner"), StringComparison.Ordinal);
        Assert.False(new S3Keys("store10").InUseMarker.StartsWith(_keys.StorePrefix, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("")]
    [InlineData("/vm/100")]
    [InlineData("vm//100")]
    [InlineData("vm/../100")]
    [InlineData("vm/100/")]
    [InlineData("vm/./100")]
    public void Relative_paths_that_could_escape_or_alias_are_refused(string rel)
    {
        var e = Assert.Throws<PbsException>(() => _keys.Content(rel));
        Assert.Equal("S3KeyInvalid", e.ErrorId);
    }

    [Theory]
    [InlineData("store1/.chunks/298a/298ad4340388916a1d3845241f8a9370c09780a941714b3e5cb3940409e24174", null)]
    [InlineData("store1/.chunks/298a/298ad4340388916a1d3845241f8a9370c09780a941714b3e5cb3940409e24174.0.bad", 0)]
    [InlineData("store1/.chunks/298a/298ad4340388916a1d3845241f8a9370c09780a941714b3e5cb3940409e24174.12.bad", 12)]
    public void Chunk_keys_parse_to_digest_and_bad_number(string key, int? bad)
    {
        var parsed = _keys.ParseChunkKey(key)!.Value;
        Assert.Equal(Digest, parsed.Digest);
        Assert.Equal(bad, parsed.BadIndex);
        Assert.Equal(key, parsed.BadIndex is { } n ? _keys.BadChunk(parsed.Digest, n) : _keys.Chunk(parsed.Digest));
    }

    [Theory]
    [InlineData("store1/.chunks/298b/298ad4340388916a1d3845241f8a9370c09780a941714b3e5cb3940409e24174")] // wrong prefix dir
    [InlineData("store1/.chunks/298a/298AD4340388916A1D3845241F8A9370C09780A941714B3E5CB3940409E24174")] // upper case: not PBS's
    [InlineData("store1/.chunks/298a/298ad4340388916a1d3845241f8a9370c09780a941714b3e5cb3940409e24174.tmp_Q1w2E3")]
    [InlineData("store1/.chunks/298a/298ad4340388916a1d3845241f8a9370c09780a941714b3e5cb3940409e24174.bad")]
    [InlineData("store1/.chunks/298a/298ad4340388916a1d3845241f8a9370c09780a941714b3e5cb3940409e24174.x.bad")]
    [InlineData("store1/.chunks/298a/298ad4340388916a1d3845241f8a9370c09780a941714b3e5cb3940409e24174.using")]
    [InlineData("store1/.chunks/298a/sub/298ad4340388916a1d3845241f8a9370c09780a941714b3e5cb3940409e24174")]
    [InlineData("store10/.chunks/298a/298ad4340388916a1d3845241f8a9370c09780a941714b3e5cb3940409e24174")]
    public void Other_keys_under_chunks_are_not_chunks(string key) => Assert.Null(_keys.ParseChunkKey(key));

    [Fact]
    public void Bad_chunk_keys_map_to_the_local_bad_files_of_the_reference_store()
    {
        // PBS 4.2.3 maps DIGEST.N.bad to …/DIGEST.N.bad/.N.bad and then deletes or aborts; every bad file of the
        // reference store must map to the file that exists.
        var store = ReferenceStore.PristinePath;
        var badFiles = ReferenceStore.Expected["store"]!["bad_files"]!.AsArray().Select(b => (string)b!["path"]!).ToList();
        Assert.NotEmpty(badFiles);
        foreach (var rel in badFiles)
        {
            var parsed = _keys.ParseChunkKey("store1/" + rel)!.Value;
            Assert.NotNull(parsed.BadIndex);
            Assert.Equal(Path.Combine(store, rel), parsed.LocalPath(store));
            Assert.True(File.Exists(parsed.LocalPath(store)), rel);
        }
        foreach (var chunk in ReferenceStore.Expected["store"]!["chunks"]!.AsArray().Take(10))
        {
            var rel = (string)chunk!["path"]!;
            Assert.Equal(Path.Combine(store, rel), _keys.ParseChunkKey("store1/" + rel)!.Value.LocalPath(store));
        }
    }

    [Fact]
    public void Chunk_flocks_live_under_the_run_root()
        => Assert.Equal(Path.Combine(PbsPaths.RunRoot, "locks", "store1", ".chunks", "298a", Digest.ToString()),
            S3Backend.ChunkLockPath("store1", Digest));
}
