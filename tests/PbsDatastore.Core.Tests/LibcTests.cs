using PbsDatastore.Core.Native;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests;

public class LibcTests
{
    [Fact]
    public void TouchAtimeSetsAtimeToNowAndKeepsMtime()
    {
        using var dir = new TempDir();
        var file = Path.Combine(dir.Path, "chunk");
        File.WriteAllBytes(file, [1, 2, 3]);
        Assert.Equal(0, Libc.SetTimes(file, 1_000_000, 2_000_000));
        Assert.Equal(0, Libc.TryLstat(file, out var before));
        Assert.Equal(1_000_000, before.Atime.Seconds);
        Assert.Equal(2_000_000, before.Mtime.Seconds);
        Assert.Equal(3UL, before.Size);
        Assert.True(before.IsRegularFile);

        Assert.Equal(0, Libc.TouchAtime(file));
        Assert.Equal(0, Libc.TryLstat(file, out var after));
        Assert.True(after.Atime.Seconds > DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60);
        Assert.Equal(2_000_000, after.Mtime.Seconds);
    }

    [Fact]
    public void LstatReportsMissingFileAsEnoent()
    {
        Assert.Equal(Libc.ENOENT, Libc.TryLstat("/nonexistent/pbs/x", out _));
    }
}
