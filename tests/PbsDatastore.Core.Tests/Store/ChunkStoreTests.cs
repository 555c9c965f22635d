using System.Security.Cryptography;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Native;
using PbsDatastore.Core.Store;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Store;

public class ChunkStoreTests
{
    private static readonly System.Text.Json.Nodes.JsonNode StoreFacts = ReferenceStore.Expected["store"]!;

    [Fact]
    public void EveryFixtureChunkAndBadFileIsIteratedAndNothingElse()
    {
        var store = FilesystemBackend.Open("store1", ReferenceStore.PristinePath);
        var entries = store.IterateChunks().ToList();

        var expected = StoreFacts["chunks"]!.AsArray().Select(c => (string)c!["path"]!)
            .Concat(StoreFacts["bad_files"]!.AsArray().Select(b => (string)b!["path"]!))
            .Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(expected, entries.Select(e => $".chunks/{e.PrefixDirName}/{e.Name}").Order(StringComparer.Ordinal).ToArray());
        Assert.Equal((int)StoreFacts["chunk_count"]!, entries.Count(e => !e.IsBad));

        foreach (var other in StoreFacts["other_chunk_dir_files"]!.AsArray())
            Assert.DoesNotContain(entries, e => $".chunks/{e.PrefixDirName}/{e.Name}" == (string)other!["path"]!);
        var tmpLeftover = (string)ReferenceStore.Expected["gc_cases"]!["chunk_dir_tmp_leftover"]!;
        Assert.DoesNotContain(entries, e => tmpLeftover.EndsWith(e.Name));

        // PBS's order: prefix directories ascending.
        Assert.True(entries.Select(e => e.PrefixIndex).SequenceEqual(entries.Select(e => e.PrefixIndex).Order()));
        foreach (var entry in entries)
        {
            Assert.Equal(entry.Name.EndsWith(".bad"), entry.IsBad);
            Assert.Equal(entry.Name[..64], entry.Digest.ToString());
            Assert.Equal(entry.Digest.PrefixIndex, entry.PrefixIndex);
            Assert.Equal(Path.Combine(ReferenceStore.PristinePath, ".chunks", entry.PrefixDirName, entry.Name), store.ChunkPath(entry.Digest, entry.Name[64..]));
        }
    }

    [Fact]
    public void LoadStatAndPathOfEveryFixtureChunk()
    {
        var store = FilesystemBackend.Open("store1", ReferenceStore.PristinePath);
        long total = 0;
        foreach (var chunk in StoreFacts["chunks"]!.AsArray())
        {
            var digest = ChunkDigest.Parse((string)chunk!["digest"]!);
            Assert.Equal(Path.Combine(ReferenceStore.PristinePath, (string)chunk["path"]!), store.ChunkPath(digest));
            var raw = store.LoadChunk(digest);
            Assert.Equal((long)chunk["file_size"]!, raw.Length);
            Assert.Equal((string)chunk["sha256"]!, Convert.ToHexStringLower(SHA256.HashData(raw)));
            var stat = store.Stat(digest)!.Value;
            Assert.True(stat.IsRegularFile);
            Assert.Equal(raw.Length, stat.Size);
            total += stat.Size;
        }
        Assert.Equal((long)StoreFacts["chunk_bytes"]!, total);

        foreach (var missing in StoreFacts["missing_chunks"]!.AsArray())
        {
            var digest = ChunkDigest.Parse((string)missing!["digest"]!);
            Assert.Null(store.Stat(digest));
            var e = Assert.Throws<PbsException>(() => store.LoadChunk(digest));
            Assert.Equal("ChunkNotFound", e.ErrorId);
            Assert.Equal(PbsErrorKind.ObjectNotFound, e.Kind);
        }
    }

    [Fact]
    public void CondTouchUpdatesAtimeKeepsMtimeAndReportsMissing()
    {
        using var dir = new TempDir();
        var chunk = StoreFacts["chunks"]!.AsArray()[0]!;
        var digest = ChunkDigest.Parse((string)chunk["digest"]!);
        var store = SparseStore(dir.Path, digest.PrefixIndex);
        var path = store.ChunkPath(digest);
        File.Copy(Path.Combine(ReferenceStore.PristinePath, (string)chunk["path"]!), path);
        Assert.Equal(0, Libc.SetTimes(path, 1_000_000, 2_000_000));

        Assert.True(store.CondTouchChunk(digest, assertExists: true));
        var stat = store.Stat(digest)!.Value;
        Assert.True(stat.AtimeSeconds > DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60);
        Assert.Equal(2_000_000, stat.MtimeSeconds);

        var missing = ChunkDigest.Parse((string)StoreFacts["missing_chunks"]!.AsArray()[0]!["digest"]!);
        Assert.False(store.CondTouchChunk(missing, assertExists: false));
        var e = Assert.Throws<PbsException>(() => store.CondTouchChunk(missing, assertExists: true));
        Assert.Equal("ChunkTouchFailed", e.ErrorId);
        Assert.StartsWith("update atime failed for chunk/file \"", e.Message);
    }

    /// <summary>
    /// GC's touch a directory at a time: the same outcome per chunk as <see cref="FilesystemBackend.TouchChunk"/>,
    /// whether the prefix directory is there, missing, or a symlink (resolved as the chunk's path resolves it).
    /// </summary>
    [Fact]
    public void TouchAndStatByDirectoryMatchThePerChunkCalls()
    {
        using var dir = new TempDir();
        // Enough chunks per directory that the directory is opened once for them (a few take the per-chunk path).
        ChunkDigest[] Digests(string prefix, char first) => Enumerable.Range(0, 5).Select(i => ChunkDigest.Parse(prefix + (char)(first + i) + new string('0', 59))).ToArray();
        var local = Digests("ab00", '1');
        var linked = Digests("cd00", '1');
        var nowhere = Digests("ef00", '1');
        var store = SparseStore(dir.Path, 0xab00);
        var elsewhere = Path.Combine(dir.Path, "elsewhere");
        Directory.CreateDirectory(elsewhere);
        File.CreateSymbolicLink(store.PrefixDirPath(0xcd00), elsewhere);
        // The last of each directory is missing.
        foreach (var digest in local[..^1].Concat(linked[..^1]))
        {
            File.WriteAllBytes(store.ChunkPath(digest), [1]);
            Assert.Equal(0, Libc.SetTimes(store.ChunkPath(digest), 1_000_000, 2_000_000));
        }

        var errnos = new int[5];
        foreach (var (prefix, digests) in new[] { (0xab00, local), (0xcd00, linked), (0xef00, nowhere) })
        {
            var expected = digests.Select(d => (Errno: store.StatChunk(d, default, out var st), Stat: st)).ToArray();
            var stats = new ChunkFileStat[5];
            store.StatChunks(prefix, digests, errnos, stats);
            Assert.Equal(expected, errnos.Zip(stats, (e, st) => (e, st)));
            Assert.Equal(expected.Select(x => x.Errno), errnos);
            store.TouchChunks(prefix, digests, errnos);
            Assert.Equal(expected.Select(x => x.Errno), errnos);
        }
        Assert.Equal([0, 0, 0, 0, Libc.ENOENT], local.Select(d => store.StatChunk(d, default, out _)));
        Assert.Equal([0, 0, 0, 0, Libc.ENOENT], linked.Select(d => store.StatChunk(d, default, out _)));
        foreach (var digest in local[..^1].Concat(linked[..^1]))
        {
            var stat = store.Stat(digest)!.Value;
            Assert.True(stat.AtimeSeconds > DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60);
            Assert.Equal(2_000_000, stat.MtimeSeconds);
        }
        Assert.All(errnos, e => Assert.Equal(Libc.ENOENT, e)); // the missing directory's, last in the loop
    }

    /// <summary>The names §1.2 lists, run through PBS 3.2.4's test (64 or 70 bytes, 64 leading hex digits).</summary>
    [Fact]
    public void NameFilterIsPbs324Exactly()
    {
        using var tmp = new TempDir();
        var store = SparseStore(tmp.Path, 0xab00, 0x0002);
        const string hex = "ab00000000000000000000000000000000000000000000000000000000000001";
        var dir = store.PrefixDirPath(0xab00);
        var cases = new (string Name, bool Listed, bool Bad)[]
        {
            (hex, true, false),
            (hex.ToUpperInvariant()[..2] + hex[2..].ToUpperInvariant(), true, false),
            (hex + ".tmp_x", true, false),
            (hex + ".0.bak", true, false),
            (hex + "zzzzzz", true, false),
            (hex + ".1.bad", true, true),
            (hex + ".x.bad", true, true),
            (hex + "\u00e9.bad", true, true), // 2 UTF-8 bytes: 70 bytes in all
            (hex + "0", false, false),
            (hex + ".tmp_Ab3dE9", false, false),
            (hex[..63] + "g", false, false),
            (hex + ".0.bad0", false, false),
        };
        foreach (var (name, _, _) in cases) File.WriteAllBytes(Path.Combine(dir, name), [1]);
        var subdir = "ab00000000000000000000000000000000000000000000000000000000000002";
        var link = "ab00000000000000000000000000000000000000000000000000000000000003";
        Directory.CreateDirectory(Path.Combine(dir, subdir));
        File.CreateSymbolicLink(Path.Combine(dir, link), hex);

        var entries = new List<ChunkEntry>();
        store.ReadPrefixDir(0xab00, entries);
        foreach (var (name, listed, bad) in cases)
        {
            var found = entries.Where(e => e.Name == name).ToList();
            Assert.Equal(listed ? 1 : 0, found.Count);
            if (listed) Assert.Equal(bad, found[0].IsBad);
        }
        // Non-regular entries are listed; GC's lstat skips them.
        Assert.False(store.Stat(entries.Single(e => e.Name == subdir))!.Value.IsRegularFile);
        Assert.False(store.Stat(entries.Single(e => e.Name == link))!.Value.IsRegularFile);
        Assert.Equal(cases.Count(c => c.Listed) + 2, entries.Count);

        // Missing prefix directories are skipped; one that is not a directory stops the iteration.
        Assert.Equal(entries.Count, store.IterateChunks().Count());
        Directory.Delete(store.PrefixDirPath(0x0002));
        File.WriteAllBytes(store.PrefixDirPath(0x0002), []);
        var e = Assert.Throws<PbsException>(() => store.IterateChunks().Count());
        Assert.Equal("ChunkDirReadFailed", e.ErrorId);
        Assert.StartsWith("unable to read subdir '0002' - ", e.Message);
    }

    /// <summary>A store with only some prefix directories: enough for tests that need no fixture copy.</summary>
    internal static FilesystemBackend SparseStore(string basePath, params int[] prefixes)
    {
        foreach (var prefix in prefixes) Directory.CreateDirectory(Path.Combine(basePath, ".chunks", ChunkLayout.PrefixDirName(prefix)));
        return FilesystemBackend.Open("store1", basePath);
    }

    [Fact]
    public void OpenRejectsMissingChunkDirAndRelativePath()
    {
        using var dir = new TempDir();
        Assert.Equal("ChunkStoreNotFound", Assert.Throws<PbsException>(() => FilesystemBackend.Open("x", dir.Path)).ErrorId);
        Assert.Equal("DatastorePathNotAbsolute", Assert.Throws<PbsException>(() => FilesystemBackend.Open("x", "relative/store")).ErrorId);
    }

    [Fact]
    public void AbortStopsIteration()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var store = FilesystemBackend.Open("store1", ReferenceStore.PristinePath);
        var e = Assert.Throws<PbsException>(() => store.IterateChunks(new RecordingTaskState(cts.Token)).Count());
        Assert.Equal(PbsErrorKind.OperationStopped, e.Kind);
    }
}
