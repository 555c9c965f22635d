using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests;

public class TaskStateTests
{
    [Fact]
    public void CheckAbortThrowsOperationStoppedOnceCancelled()
    {
        using var cts = new CancellationTokenSource();
        var state = new RecordingTaskState(cts.Token);
        state.CheckAbort();
        cts.Cancel();
        var e = Assert.Throws<PbsException>(() => state.CheckAbort());
        Assert.Equal(PbsErrorKind.OperationStopped, e.Kind);
    }

    [Fact]
    public void ReferenceStoreFixtureIsFound()
    {
        Assert.True(Directory.Exists(Path.Combine(ReferenceStore.PristinePath, ".chunks")));
        Assert.Equal("3.2.4", (string)ReferenceStore.Expected["pbs_version"]!);
    }
}
