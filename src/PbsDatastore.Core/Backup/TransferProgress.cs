using System.Diagnostics;
using System.Globalization;

namespace PbsDatastore.Core.Backup;

/// <summary>
/// Progress of one archive transfer (ingest or export): bytes done, percent when the total is known, and MB/s
/// (decimal megabytes, as PBS's client prints its rates). Reports at most four times a second.
/// </summary>
internal sealed class TransferProgress
{
    private static readonly long ReportInterval = Stopwatch.Frequency / 4;

    private readonly ITaskState _state;
    private readonly int _activityId;
    private readonly string _activity;
    private readonly long? _total;
    private readonly long _started = Stopwatch.GetTimestamp();
    private long _lastReport;

    public TransferProgress(ITaskState state, int activityId, string activity, long? total)
    {
        _state = state;
        _activityId = activityId;
        _activity = activity;
        _total = total;
    }

    public long Bytes { get; private set; }

    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(_started);

    /// <summary>Megabytes (10^6 bytes) per second so far; 0 before any time has passed.</summary>
    public double MegabytesPerSecond
    {
        get
        {
            var seconds = Elapsed.TotalSeconds;
            return seconds > 0 ? Bytes / 1e6 / seconds : 0;
        }
    }

    public void Add(long bytes)
    {
        Bytes += bytes;
        var now = Stopwatch.GetTimestamp();
        if (now - _lastReport < ReportInterval)
            return;
        _lastReport = now;
        var percent = _total is > 0 ? (int)(Bytes * 100 / _total.Value) : 0;
        _state.Progress(_activityId, _activity, Status(), percent);
    }

    public void Complete() => _state.Complete(_activityId, _activity);

    /// <summary>"12.5 MiB of 100 MiB, 180.25 MB/s" (or without the total when the input length is unknown).</summary>
    public string Status()
    {
        var rate = MegabytesPerSecond.ToString("F2", CultureInfo.InvariantCulture);
        return _total is { } total
            ? $"{Mib(Bytes)} of {Mib(total)}, {rate} MB/s"
            : $"{Mib(Bytes)}, {rate} MB/s";
    }

    private static string Mib(long bytes) => (bytes / 1048576.0).ToString("F1", CultureInfo.InvariantCulture) + " MiB";
}
