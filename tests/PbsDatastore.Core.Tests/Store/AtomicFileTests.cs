using PbsDatastore.Core.Native;
using PbsDatastore.Core.Store;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Store;

public class AtomicFileTests
{
    [Theory]
    [InlineData("/s/vm/100/2024-03-01T10:00:00Z/index.json.blob", "tmp_x", "/s/vm/100/2024-03-01T10:00:00Z/index.json.tmp_x")]
    [InlineData("/s/.chunks/ab00/ab00000000000000000000000000000000000000000000000000000000000001", "tmp_x", "/s/.chunks/ab00/ab00000000000000000000000000000000000000000000000000000000000001.tmp_x")]
    [InlineData("/s/vm/100/notes", "tmp_x", "/s/vm/100/notes.tmp_x")]
    [InlineData("/s/.gc-status", "tmp_x", "/s/.gc-status.tmp_x")]
    [InlineData("/s.d/owner", "tmp_x", "/s.d/owner.tmp_x")]
    [InlineData("/s/drive-scsi0.img.fidx", "tmp_fidx", "/s/drive-scsi0.img.tmp_fidx")]
    [InlineData("/s/root.pxar.didx", "tmp_didx", "/s/root.pxar.tmp_didx")]
    public void TempNamesReplaceTheLastExtension(string path, string extension, string expected)
        => Assert.Equal(expected, AtomicFile.WithExtension(path, extension));

    [Fact]
    public void ReplaceWritesMode0644AndLeavesNoTempFile()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "index.json.blob");
        File.WriteAllBytes(path, [9, 9, 9, 9]);
        AtomicFile.Replace(path, [1, 2, 3]);
        Assert.Equal([1, 2, 3], File.ReadAllBytes(path));
        Assert.Equal(0, Libc.TryLstat(path, out var st));
        Assert.Equal(0x1A4, st.Mode & 0xFFF);
        AtomicFile.Replace(path, [], 0x180);
        Assert.Empty(File.ReadAllBytes(path));
        Assert.Equal(0, Libc.TryLstat(path, out st));
        Assert.Equal(0x180, st.Mode & 0xFFF);
        Assert.Equal(["index.json.blob"], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void FailedReplaceRemovesItsTempFile()
    {
        using var dir = new TempDir();
        var target = Path.Combine(dir.Path, "notes");
        Directory.CreateDirectory(Path.Combine(target, "sub"));
        var e = Assert.Throws<PbsException>(() => AtomicFile.Replace(target, [1]));
        Assert.Equal("FileWriteFailed", e.ErrorId);
        Assert.StartsWith($"Atomic rename failed for file \"{target}\"", e.Message);
        Assert.Equal(["notes"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName));
        Assert.Throws<PbsException>(() => AtomicFile.Replace(Path.Combine(dir.Path, "missing", "x"), [1]));
    }
}
