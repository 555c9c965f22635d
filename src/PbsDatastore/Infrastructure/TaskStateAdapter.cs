using System.Collections.Concurrent;
using System.Management.Automation;
using PbsDatastore.Core;

namespace PbsDatastore.Infrastructure;

/// <summary>
/// Adapts the core's <see cref="ITaskState"/> to a cmdlet: messages from any thread are queued and written on the
/// pipeline thread (WriteVerbose/WriteWarning/WriteProgress may only be called there); StopProcessing cancels.
/// </summary>
internal sealed class TaskStateAdapter : ITaskState, IDisposable
{
    private readonly BlockingCollection<Action<Cmdlet>> _queue = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<int, ProgressRecord> _openBars = new();
    private readonly int _parentActivityId;

    public TaskStateAdapter(int parentActivityId = -1) => _parentActivityId = parentActivityId;

    public CancellationToken Cancellation => _stop.Token;

    public void Log(string message)
    {
        LastLog = message;
        Post(c => c.WriteVerbose(message));
    }

    /// <summary>The last line logged: where the operation was when it ended (for the message after a Ctrl+C).</summary>
    public string? LastLog { get; private set; }

    /// <summary>PBS's own "warning: " prefix is dropped: PowerShell already shows "WARNING: ".</summary>
    public void Warn(string message) => Post(c => c.WriteWarning(
        message.StartsWith("warning: ", StringComparison.OrdinalIgnoreCase) ? message["warning: ".Length..] : message));

    public void Progress(int activityId, string activity, string status, int percent) => Post(c =>
    {
        var record = new ProgressRecord(activityId, activity, string.IsNullOrEmpty(status) ? activity : status)
        {
            PercentComplete = Math.Clamp(percent, 0, 100),
            ParentActivityId = _parentActivityId,
        };
        _openBars[activityId] = record;
        c.WriteProgress(record);
    });

    public void Complete(int activityId, string activity) => Post(c => CompleteBar(c, activityId, activity));

    /// <summary>Called from StopProcessing (Ctrl+C), on its own thread: the job may have ended and this been disposed.</summary>
    public void Stop()
    {
        try { _stop.Cancel(); }
        catch (ObjectDisposedException) { /* nothing left to cancel */ }
    }

    /// <summary>Queues a write of the operation's output, made on the pipeline thread in order with its messages.</summary>
    public void Emit(Action<Cmdlet> write) => Post(write);

    /// <summary>
    /// Runs <paramref name="operation"/> on a worker thread while this (pipeline) thread writes what it reports.
    /// Every progress bar still open at the end gets its Completed record, whatever the outcome.
    /// </summary>
    public T Run<T>(Cmdlet cmdlet, Func<ITaskState, T> operation)
    {
        var work = Task.Run(() =>
        {
            try { return operation(this); }
            finally { _queue.CompleteAdding(); }
        });
        try
        {
            foreach (var write in _queue.GetConsumingEnumerable())
                write(cmdlet);
        }
        catch
        {
            // The pipeline was stopped (or a write failed): the operation must end, and its own cleanup (e.g. an
            // unfinished snapshot's removal) must be done before the cmdlet returns and this adapter is disposed.
            _stop.Cancel();
            try { work.Wait(); }
            catch (AggregateException) { /* the pipeline's exception is the one to report */ }
            throw;
        }
        finally
        {
            foreach (var (id, record) in _openBars.ToArray())
                CompleteBar(cmdlet, id, record.Activity);
        }
        return work.GetAwaiter().GetResult();
    }

    private void CompleteBar(Cmdlet cmdlet, int activityId, string activity)
    {
        _openBars.Remove(activityId);
        cmdlet.WriteProgress(new ProgressRecord(activityId, activity, "Completed")
        {
            RecordType = ProgressRecordType.Completed,
            ParentActivityId = _parentActivityId,
        });
    }

    private void Post(Action<Cmdlet> write)
    {
        if (!_queue.IsAddingCompleted)
        {
            try { _queue.Add(write); }
            catch (InvalidOperationException) { /* operation already finished */ }
        }
    }

    public void Dispose()
    {
        _queue.Dispose();
        _stop.Dispose();
    }
}
