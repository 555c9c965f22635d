using System.Text.Json.Nodes;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Formats;

public class IndexReaderTests
{
    /// <summary>Every index-like file of every snapshot: (relative path, JSON key holding its header facts).</summary>
    public static TheoryData<string, string> SnapshotIndexFiles()
    {
        var data = new TheoryData<string, string>();
        foreach (var snapshot in ReferenceStore.Expected["store"]!["snapshots"]!.AsArray())
            foreach (var file in snapshot!["files"]!.AsArray())
                foreach (var key in new[] { "index", "index_raw_header" })
                    if (file![key] != null)
                        data.Add($"{(string)snapshot["path"]!}/{(string)file["name"]!}", key);
        return data;
    }

    public static TheoryData<string> IndexFilesOnDisk()
    {
        var data = new TheoryData<string>();
        foreach (var file in ReferenceStore.Expected["store"]!["index_files_on_disk"]!.AsArray())
            data.Add((string)file!["path"]!);
        return data;
    }

    private static JsonObject FileFacts(string relativePath, string key)
    {
        var snapshotPath = Path.GetDirectoryName(relativePath)!;
        var snapshot = ReferenceStore.Expected["store"]!["snapshots"]!.AsArray().Single(s => (string)s!["path"]! == snapshotPath)!;
        return snapshot["files"]!.AsArray().Single(f => (string)f!["name"]! == Path.GetFileName(relativePath))![key]!.AsObject();
    }

    [Fact]
    public void OpeningIntoOneBufferReadsEveryIndexAsAFreshArrayDoes()
    {
        var paths = ReferenceStore.Expected["store"]!["index_files_on_disk"]!.AsArray()
            .Select(f => Path.Combine(ReferenceStore.PristinePath, (string)f!["path"]!)).ToList();
        // Each file twice in a row: the second read must land in the buffer the first one left.
        paths = paths.SelectMany(p => new[] { p, p }).ToList();
        Assert.True(paths.Count >= 4);
        byte[]? buffer = null;
        var reused = 0;
        foreach (var path in paths)
        {
            var before = buffer;
            var index = IndexFile.Open(path, ref buffer);
            if (before != null && ReferenceEquals(before, buffer)) reused++;
            var fresh = IndexFile.Open(path);
            Assert.Equal(fresh.FileSize, index.FileSize);
            Assert.Equal(fresh.Count, index.Count);
            Assert.Equal(fresh.IndexBytes, index.IndexBytes);
            Assert.True(fresh.EntryBytes.SequenceEqual(index.EntryBytes), path);
            Assert.True(index.CsumMatches == fresh.CsumMatches, path);
        }
        Assert.True(reused >= paths.Count / 2, $"{reused} of {paths.Count} reads reused the buffer");
    }

    [Theory]
    [MemberData(nameof(SnapshotIndexFiles))]
    public void SnapshotIndexMatchesEveryHeaderFieldAndEntry(string relativePath, string key)
    {
        var facts = FileFacts(relativePath, key);
        var index = IndexFile.Open(Path.Combine(ReferenceStore.PristinePath, relativePath));

        Assert.Equal((string)facts["kind"]!, index.Kind == IndexKind.Fixed ? "fixed-index" : "dynamic-index");
        Assert.Equal((string)facts["magic_hex"]!, Convert.ToHexStringLower(index.Magic));
        Assert.Equal((string)facts["uuid"]!, index.UuidHex);
        Assert.Equal((long)facts["ctime"]!, index.CTime);
        Assert.Equal((string)facts["ctime_rfc3339"]!, DateTimeOffset.FromUnixTimeSeconds(index.CTime).ToString("yyyy-MM-ddTHH:mm:ssZ"));
        Assert.Equal((string)facts["index_csum"]!, Convert.ToHexStringLower(index.IndexCsum));
        Assert.Equal((string)facts["computed_csum"]!, Convert.ToHexStringLower(index.ComputeCsum()));
        Assert.Equal((string)facts["index_csum"]! == (string)facts["computed_csum"]!, index.CsumMatches);
        Assert.Equal((long)facts["file_size"]!, index.FileSize);
        Assert.Equal((long)facts["size"]!, index.IndexBytes);
        Assert.Equal((long)facts["computed_size"]!, index.IndexBytes);
        Assert.Equal((int)facts["chunk_count"]!, index.Count);
        if (index is FixedIndex fixedIndex)
        {
            Assert.Equal((long)facts["chunk_size"]!, fixedIndex.ChunkSize);
            Assert.Equal((long)facts["size"]!, fixedIndex.Size);
            Assert.Equal(fixedIndex.Size, index.IndexSize);
        }
        else
        {
            Assert.Equal(index.FileSize, index.IndexSize);
        }

        if (facts["entries"] is JsonArray entries)
        {
            Assert.Equal(entries.Count, index.Count);
            long previousEnd = 0;
            for (var i = 0; i < entries.Count; i++)
            {
                var end = (long)entries[i]!["end"]!;
                var digest = (string)entries[i]!["digest"]!;
                Assert.Equal(digest, Convert.ToHexStringLower(index.GetDigest(i)));
                Assert.Equal(digest, index.DigestAt(i).ToString());
                Assert.Equal(previousEnd, index.ChunkStart(i));
                Assert.Equal(end, index.ChunkEnd(i));
                Assert.Equal(end - previousEnd, index.ChunkLength(i));
                Assert.Equal((i, 0L), index.ChunkFromOffset(previousEnd));
                Assert.Equal((i, end - 1 - previousEnd), index.ChunkFromOffset(end - 1));
                previousEnd = end;
            }
            Assert.Null(index.ChunkFromOffset(previousEnd));
            Assert.Null(index.ChunkFromOffset(-1));
        }
    }

    [Theory]
    [MemberData(nameof(IndexFilesOnDisk))]
    public void EveryIndexOnDiskOpensWithMatchingCsum(string relativePath)
    {
        var path = Path.Combine(ReferenceStore.PristinePath, relativePath);
        var index = IndexFile.Open(path);
        Assert.True(index.CsumMatches);
        Assert.Equal(relativePath.EndsWith(".fidx") ? IndexKind.Fixed : IndexKind.Dynamic, index.Kind);
        var strict = index.Kind == IndexKind.Fixed ? (IndexFile)FixedIndex.Open(path) : DynamicIndex.Open(path);
        Assert.Equal(index.IndexBytes, strict.IndexBytes);
        Assert.Throws<PbsException>(() => index.Kind == IndexKind.Fixed ? DynamicIndex.Open(path) : FixedIndex.Open(path));
    }

    /// <summary>
    /// The chunk facts say which index files reference each chunk and how often: recount that from every index on
    /// disk (the hidden and strange-path ones included) and every missing chunk.
    /// </summary>
    [Fact]
    public void ChunkReferencesRecountedFromAllIndexesMatch()
    {
        var counts = new Dictionary<ChunkDigest, int>();
        var referencedBy = new Dictionary<ChunkDigest, SortedSet<string>>();
        foreach (var file in ReferenceStore.Expected["store"]!["index_files_on_disk"]!.AsArray())
        {
            var relative = (string)file!["path"]!;
            var index = IndexFile.Open(Path.Combine(ReferenceStore.PristinePath, relative));
            for (var i = 0; i < index.Count; i++)
            {
                var digest = index.DigestAt(i);
                counts[digest] = counts.GetValueOrDefault(digest) + 1;
                if (!referencedBy.TryGetValue(digest, out var set)) referencedBy[digest] = set = new SortedSet<string>(StringComparer.Ordinal);
                set.Add(relative);
            }
        }
        var store = ReferenceStore.Expected["store"]!;
        var expected = store["chunks"]!.AsArray().Concat(store["missing_chunks"]!.AsArray()).ToList();
        foreach (var chunk in expected)
        {
            var digest = ChunkDigest.Parse((string)chunk!["digest"]!);
            Assert.Equal((int)chunk["index_entries_referencing"]!, counts.GetValueOrDefault(digest));
            var names = chunk["referenced_by"]!.AsArray().Select(n => (string)n!).Order(StringComparer.Ordinal).ToArray();
            Assert.Equal(names, referencedBy.TryGetValue(digest, out var set) ? set.ToArray() : []);
        }
        // Every referenced digest is either a stored chunk or a known missing one.
        Assert.Equal(counts.Count, expected.Count(c => (int)c!["index_entries_referencing"]! > 0));
    }

    [Fact]
    public void MissingIndexIsObjectNotFound()
    {
        var e = Assert.Throws<PbsException>(() => IndexFile.Open("/nonexistent/pbs/x.fidx"));
        Assert.Equal("IndexNotFound", e.ErrorId);
        Assert.Equal(PbsErrorKind.ObjectNotFound, e.Kind);
    }

    [Fact]
    public void AnyPowerOfTwoChunkSizeIsAccepted()
    {
        var data = new byte[IndexFile.HeaderSize + 2 * ChunkDigest.Size];
        FixedIndex.MagicBytes.CopyTo(data);
        BitConverter.TryWriteBytes(data.AsSpan(64), long.MaxValue);
        BitConverter.TryWriteBytes(data.AsSpan(72), 1L << 62);
        var index = FixedIndex.Parse(data, "huge.fidx");
        Assert.Equal(2, index.Count);
        Assert.Equal(long.MaxValue, index.ChunkEnd(1));
        Assert.Equal((1, (1L << 62) - 2), index.ChunkFromOffset(long.MaxValue - 1));
    }

    [Fact]
    public void EmptyDynamicIndexIsAnEmptyIndex()
    {
        var data = new byte[IndexFile.HeaderSize];
        DynamicIndex.MagicBytes.CopyTo(data);
        var index = IndexFile.Parse(data, "empty.didx");
        Assert.Equal(0, index.Count);
        Assert.Equal(0, index.IndexBytes);
        Assert.Null(index.ChunkFromOffset(0));
        Assert.Equal(Convert.FromHexString("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), index.ComputeCsum());
    }
}
