using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Native;
using PbsDatastore.Core.Store;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Formats;

public class IndexWriterTests
{
    /// <summary>Every finished index of the fixture: snapshot archives, the strange-path and the hidden one.</summary>
    public static TheoryData<string> FinishedIndexFiles()
    {
        var data = new TheoryData<string>();
        foreach (var file in ReferenceStore.Expected["store"]!["index_files_on_disk"]!.AsArray())
            data.Add((string)file!["path"]!);
        return data;
    }

    [Theory]
    [MemberData(nameof(FinishedIndexFiles))]
    public void WriterReproducesPbsFileByteForByte(string relativePath)
    {
        var original = Path.Combine(ReferenceStore.PristinePath, relativePath);
        var index = IndexFile.Open(original);
        using var dir = new TempDir();
        var target = Path.Combine(dir.Path, Path.GetFileName(relativePath));

        byte[] csum;
        if (index is FixedIndex fixedIndex)
        {
            using var writer = FixedIndexWriter.Create(target, fixedIndex.Size, fixedIndex.ChunkSize, index.Uuid, index.CTime);
            Assert.True(File.Exists(writer.TempPath));
            Assert.EndsWith(".tmp_fidx", writer.TempPath);
            // Out of order, as a parallel uploader would add them.
            for (var i = index.Count - 1; i >= 0; i--)
                writer.AddChunk(index.ChunkEnd(i), index.ChunkLength(i), index.DigestAt(i));
            csum = writer.Close();
            Assert.False(File.Exists(writer.TempPath));
        }
        else
        {
            using var writer = DynamicIndexWriter.Create(target, index.Uuid, index.CTime);
            Assert.EndsWith(".tmp_didx", writer.TempPath);
            for (var i = 0; i < index.Count; i++) writer.AddChunk(index.ChunkEnd(i), index.DigestAt(i));
            Assert.Equal(index.IndexBytes, writer.End);
            csum = writer.Close();
        }
        Assert.Equal(index.IndexCsum.ToArray(), csum);
        Assert.Equal(File.ReadAllBytes(original), File.ReadAllBytes(target));
        Assert.Equal(["." + relativePath.Split('.')[^1]], Directory.GetFiles(dir.Path).Select(Path.GetExtension));
        Assert.Equal(0, Libc.TryLstat(target, out var st));
        if (Libc.GetEuid() == 0) Assert.Equal(BackupOwner.Ids!.Value, (st.Uid, st.Gid));
    }

    [Fact]
    public void UnfinishedFixedIndexHasTheTempLayout()
    {
        // PBS's own unfinished writer: temp name, zero checksum, full length with unwritten slots zero.
        var tmp = (string)ReferenceStore.Expected["gc_cases"]!["unfinished_snapshot_tmp_index"]!;
        var index = FixedIndex.Open(Path.Combine(ReferenceStore.PristinePath, tmp));
        Assert.True(index.IndexCsum.SequenceEqual(new byte[32]));
        using var dir = new TempDir();
        using var writer = FixedIndexWriter.Create(Path.Combine(dir.Path, tmp.Replace(".tmp_fidx", ".fidx").Split('/')[^1]), index.Size, index.ChunkSize, index.Uuid, index.CTime);
        Assert.Equal(Path.GetFileName(tmp), Path.GetFileName(writer.TempPath));
        Assert.Equal(index.FileSize, new FileInfo(writer.TempPath).Length);
    }

    [Fact]
    public void FixedWriterChecksAsPbs()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "drive-scsi0.img.fidx");
        var digest = ChunkDigest.Parse(new string('a', 64));
        Assert.Equal("IndexInvalidSize", Assert.Throws<PbsException>(() => FixedIndexWriter.Create(path, 0, 65536)).ErrorId);
        Assert.Equal("IndexBadChunkSize", Assert.Throws<PbsException>(() => FixedIndexWriter.Create(path, 100, 1000)).ErrorId);
        using var writer = FixedIndexWriter.Create(path, 3 * 65536 + 10, 65536);
        Assert.Equal(4, writer.Count);
        Assert.StartsWith("got chunk with small offset", Bad(() => writer.AddChunk(100, 65536, digest)));
        Assert.StartsWith("chunk data exceeds size", Bad(() => writer.AddChunk(5 * 65536, 65536, digest)));
        Assert.StartsWith("chunk with unexpected length", Bad(() => writer.AddChunk(2 * 65536, 1000, digest)));
        Assert.StartsWith("chunk with unexpected length", Bad(() => writer.AddChunk(3 * 65536 + 10, 0, digest)));
        Assert.StartsWith("got unaligned chunk", Bad(() => writer.AddChunk(65536 + 5, 65536, digest)));
        Assert.StartsWith("add digest failed - index out of range", Assert.Throws<PbsException>(() => writer.AddDigest(4, digest)).Message);
        writer.AddChunk(3 * 65536 + 10, 10, digest);
        writer.Close();
        var index = FixedIndex.Open(path);
        Assert.Equal(digest, index.DigestAt(3));
        Assert.Equal(new ChunkDigest(new byte[32]), index.DigestAt(0));
        Assert.True(index.CsumMatches);
        Assert.Equal("IndexWriterClosed", Assert.Throws<PbsException>(() => writer.Close()).ErrorId);
        Assert.Equal("IndexWriterClosed", Assert.Throws<PbsException>(() => writer.AddDigest(0, digest)).ErrorId);
    }

    [Fact]
    public void AbandonedOrEmptyWritersLeaveNothing()
    {
        using var dir = new TempDir();
        using (var writer = FixedIndexWriter.Create(Path.Combine(dir.Path, "a.img.fidx"), 100, 65536))
            Assert.True(File.Exists(writer.TempPath));
        var dynamic = DynamicIndexWriter.Create(Path.Combine(dir.Path, "root.pxar.didx"));
        Assert.Equal("IndexEmpty", Assert.Throws<PbsException>(() => dynamic.Close()).ErrorId);
        dynamic.Dispose();
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));

        using var backwards = DynamicIndexWriter.Create(Path.Combine(dir.Path, "b.didx"));
        backwards.AddChunk(100, default);
        Assert.Equal("IndexBadChunk", Assert.Throws<PbsException>(() => backwards.AddChunk(99, default)).ErrorId);
    }

    [Fact]
    public void NewWriterGetsRandomUuidAndCurrentTime()
    {
        using var dir = new TempDir();
        using var a = DynamicIndexWriter.Create(Path.Combine(dir.Path, "a.didx"));
        using var b = DynamicIndexWriter.Create(Path.Combine(dir.Path, "b.didx"));
        Assert.False(a.Uuid.SequenceEqual(b.Uuid));
        Assert.InRange(a.CTime, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
    }

    private static string Bad(Action action)
    {
        var e = Assert.Throws<PbsException>(action);
        Assert.Equal("IndexBadChunk", e.ErrorId);
        return e.Message;
    }
}
