using System.Diagnostics;
using PbsDatastore.Core.S3;

namespace PbsDatastore.Core.Tests.S3;

public class TokenBucketTests
{
    [Fact]
    public void Burst_is_free_then_the_rate_applies_and_debt_is_paid_back()
    {
        long now = 0;
        var bucket = new TokenBucket(ratePerSecond: 100, burst: 50, () => now);
        Assert.Equal(TimeSpan.Zero, bucket.Take(50));
        Assert.Equal(TimeSpan.FromSeconds(0.1), bucket.Take(10));     // 10 short at 100/s
        now += Stopwatch.Frequency / 10;                               // the debt is paid
        Assert.Equal(TimeSpan.Zero, bucket.Take(0));
        Assert.Equal(TimeSpan.FromSeconds(2), bucket.Take(200));       // larger than the burst: wait, never block forever
        now += Stopwatch.Frequency * 10;                               // refill caps at the burst
        Assert.Equal(TimeSpan.Zero, bucket.Take(50));
        Assert.Equal(TimeSpan.FromSeconds(0.01), bucket.Take(1));
    }
}
