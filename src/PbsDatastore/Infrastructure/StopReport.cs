namespace PbsDatastore.Infrastructure;

/// <summary>
/// Where a command's Ctrl+C (StopProcessing, on another thread) meets the core jobs the command runs one after
/// another on the pipeline thread, so that the user is told exactly once that the command was stopped: by the job
/// that was running (it knows the last step), else by the stop itself. Either side may come first: a stop that
/// finds no job reports at once and cancels a job that starts after it; a job that ends, however it ends, after a
/// stop reached it reports. The report is single-shot, so the two sides may both try.
/// </summary>
internal sealed class StopReport(Action<string?> report)
{
    private TaskStateAdapter? _running;
    private volatile bool _stopped;
    private int _reported;

    /// <summary>From StopProcessing: cancels the running job (which reports when it ends), or reports now.</summary>
    public void Stop()
    {
        _stopped = true;
        // Dekker-style: this write, then the read of _running; JobStarted writes _running, then reads _stopped.
        // With a full fence on both sides at least one of them sees the other.
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _running) is { } job) job.Stop();
        else Report(null);
    }

    /// <summary>Before a job runs; a stop that came before it found no job to cancel, so it is cancelled here.</summary>
    public void JobStarted(TaskStateAdapter job)
    {
        Interlocked.Exchange(ref _running, job);
        if (_stopped) job.Stop();
    }

    /// <summary>After a job ended, whether it failed, was cancelled or finished just as the stop came.</summary>
    public void JobEnded(TaskStateAdapter job)
    {
        Interlocked.CompareExchange(ref _running, null, job);
        if (_stopped) Report(job.LastLog);
    }

    private void Report(string? lastStep)
    {
        if (Interlocked.Exchange(ref _reported, 1) == 0) report(lastStep);
    }
}
