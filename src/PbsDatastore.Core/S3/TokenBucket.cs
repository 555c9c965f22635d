using System.Diagnostics;

namespace PbsDatastore.Core.S3;

/// <summary>
/// A token bucket for the configured S3 rate limits (requests or bytes per second with a burst). A taker may run
/// into debt: it gets the wait that pays it back, so one large body never blocks forever on a small burst.
/// </summary>
internal sealed class TokenBucket
{
    private readonly double _rate;
    private readonly double _burst;
    private readonly Func<long> _clock;
    private readonly object _gate = new();
    private double _tokens;
    private long _last;

    /// <param name="clock">Monotonic ticks in <see cref="Stopwatch.Frequency"/> units (tests pass a fake).</param>
    public TokenBucket(double ratePerSecond, double burst, Func<long>? clock = null)
    {
        if (ratePerSecond <= 0) throw new ArgumentOutOfRangeException(nameof(ratePerSecond));
        _rate = ratePerSecond;
        _burst = Math.Max(burst, 1);
        _clock = clock ?? Stopwatch.GetTimestamp;
        _tokens = _burst;
        _last = _clock();
    }

    /// <summary>Takes <paramref name="amount"/> tokens and returns how long the caller must wait before using them.</summary>
    public TimeSpan Take(double amount)
    {
        lock (_gate)
        {
            var now = _clock();
            _tokens = Math.Min(_burst, _tokens + (now - _last) * _rate / Stopwatch.Frequency);
            _last = now;
            _tokens -= amount;
            return _tokens >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-_tokens / _rate);
        }
    }
}
