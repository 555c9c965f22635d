namespace PbsDatastore.Core.Tests;

public class UpidTests
{
    [Theory]
    [InlineData("UPID:pbs:000004D2:0001E240:00000007:665F0A3C:garbage_collection:store1:root@pam:", "store1")]
    [InlineData("UPID:pbs:000004D2:0001E240:00000003:6660A000:verificationjob:store1\\x3adaily:root@pam:", "store1:daily")]
    [InlineData("UPID:pbs:000004D2:0001E240:00000003:6660A000:verify_snapshot:store1\\x3a-vm-100-665F1A00:root@pam:", "store1:/vm/100/665F1A00")]
    [InlineData("UPID:pbs:000004D2:0001E240:00000003:6660A000:verify::root@pam:", null)]
    public void ParsesAndRoundTrips(string text, string? workerId)
    {
        var upid = Upid.Parse(text);
        Assert.Equal(workerId, upid.WorkerId);
        Assert.Equal(text, upid.ToString());
    }

    [Fact]
    public void ParsesFields()
    {
        var upid = Upid.Parse("UPID:pbs:000004D2:0001E240:00000007:665F0A3C:garbage_collection:store1:root@pam:");
        Assert.Equal(("pbs", 1234u, 123456ul, 7ul, 0x665F0A3CL, "garbage_collection", "root@pam"),
            (upid.Node, (uint)upid.Pid, upid.ProcessStart, upid.TaskId, upid.StartTime, upid.WorkerType, upid.AuthId));
    }

    [Theory]
    [InlineData("store1:ns/a", "store1\\x3ans-a")]
    [InlineData("a-b", "a\\x2db")]
    [InlineData(".hidden.x", "\\x2ehidden.x")]
    [InlineData("ü", "\\xc3\\xbc")]
    public void EscapesWorkerIdLikePbs(string id, string escaped)
    {
        Assert.Equal(escaped, Upid.EscapeWorkerId(id));
        Assert.Equal(id, Upid.UnescapeWorkerId(escaped));
    }

    [Theory]
    [InlineData("UPID:pbs:4D2:0001E240:00000007:665F0A3C:gc:store1:root@pam:")]
    [InlineData("UPID:pbs:000004D2:0001E240:00000007:665F0A3C:gc:store1:root@pam")]
    [InlineData("UPID:pbs:000004D2:0001E240:00000007:665F0A3C:gc:bad\\q:root@pam:")]
    [InlineData("")]
    public void RejectsMalformed(string text)
    {
        Assert.Equal("InvalidUpid", Assert.Throws<PbsException>(() => Upid.Parse(text)).ErrorId);
        Assert.False(Upid.TryParse(text, out _));
    }

    [Fact]
    public void NewTasksAreNumberedAndParseBack()
    {
        var a = Upid.Create("verify", "store1:prod/vm/100", "root@pam");
        var b = Upid.Create("verify", null, "root@pam");
        Assert.True(b.TaskId > a.TaskId);
        Assert.Equal(a, Upid.Parse(a.ToString()));
        Assert.Equal(Environment.ProcessId, a.Pid);
        Assert.InRange(a.StartTime, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 5, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        Assert.Throws<PbsException>(() => Upid.Create("bad type", null, "root@pam"));
    }
}
