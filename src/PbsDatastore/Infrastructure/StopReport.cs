namespace PbsDatastore.Infrastructure;

/// <summary>
/// Where a command's Ctrl+C (StopProcessing, on another thread) meets the core jobs the command runs one after
/// another on the pipeline thread, so that the user is told exactly once that the command was stopped: by the job
/// the stop reached (it knows the last step), else when the command ends. Both are on the pipeline thread: a
/// message written from StopProcessing's thread races the process's exit when the stopped pipeline was the last
/// thing a script did, and is lost; and PowerShell calls the commands' StopProcessing one after another without
/// waiting for them before it disposes the commands, so a command may end before its StopProcessing came (it then
/// sees the pipeline stopping). Either side may come first: a job that starts after the stop is cancelled at
/// once; a job that ends after a stop reports however it ended. The report is single-shot.
/// </summary>
internal sealed class StopReport(Action<string?> report)
{
    // One lock for the three fields: a stop and a job start on two threads must see each other in one order or the
    // other, never neither. Jobs are stopped and reports written outside it.
    private readonly Lock _gate = new();
    private TaskStateAdapter? _running;
    private bool _stopped, _reported;

    /// <summary>From StopProcessing: cancels the running job, which reports when it ends.</summary>
    public void Stop()
    {
        TaskStateAdapter? running;
        lock (_gate)
        {
            _stopped = true;
            running = _running;
        }
        running?.Stop();
    }

    /// <summary>Before a job runs; a stop that came before it found no job to cancel, so it is cancelled here.</summary>
    public void JobStarted(TaskStateAdapter job)
    {
        bool stopped;
        lock (_gate)
        {
            _running = job;
            stopped = _stopped;
        }
        if (stopped) job.Stop();
    }

    /// <summary>After a job ended, whether it failed, was cancelled or finished just as the stop came.</summary>
    public void JobEnded(TaskStateAdapter job)
    {
        bool stopped;
        lock (_gate)
        {
            if (_running == job) _running = null;
            stopped = _stopped;
        }
        if (stopped) Report(job.LastLog);
    }

    /// <summary>
    /// When the command ends (disposed by the pipeline): reports a stop no job reported. <paramref name="stopping"/>:
    /// the pipeline is being stopped; PowerShell may dispose the command before its StopProcessing is called.
    /// </summary>
    public void CommandEnded(bool stopping)
    {
        bool stopped;
        lock (_gate) stopped = _stopped;
        if (stopped || stopping) Report(null);
    }

    private void Report(string? lastStep)
    {
        lock (_gate)
        {
            if (_reported) return;
            _reported = true;
        }
        report(lastStep);
    }
}
