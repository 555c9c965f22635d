using PbsDatastore.Core.Backup;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Backup;

public class OrderedPipelineTests
{
    [Fact]
    public void ConsumesInSourceOrder()
    {
        var consumed = new List<int>();
        OrderedPipeline.Run(Enumerable.Range(0, 5_000), i => { if (i % 97 == 0) Thread.Sleep(1); return i; }, consumed.Add,
            NullTaskState.Instance);
        Assert.Equal(Enumerable.Range(0, 5_000), consumed);
    }

    [Fact]
    public void ReportsTheFirstFailingItemEvenWhenALaterOneFailsSooner()
    {
        // Item 6 fails at once on another worker while item 5 is still working: the error must still be item 5's,
        // as an export must name the first missing chunk of the archive.
        var consumed = new List<int>();
        var e = Assert.Throws<PbsException>(() => OrderedPipeline.Run(Enumerable.Range(0, 100), i =>
        {
            if (i == 5) { Thread.Sleep(300); throw new PbsException("Early", PbsErrorKind.ReadError, "item 5", "5"); }
            if (i == 6) throw new PbsException("Late", PbsErrorKind.ReadError, "item 6", "6");
            return i;
        }, consumed.Add, NullTaskState.Instance, window: 8));
        Assert.Equal("Early", e.ErrorId);
        Assert.Equal([0, 1, 2, 3, 4], consumed);
    }
}
