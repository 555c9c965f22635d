namespace PbsDatastore.Core;

/// <summary>
/// What a long-running core operation may report. The core knows only this; the cmdlet layer adapts it to
/// WriteVerbose/WriteWarning/WriteProgress and Ctrl+C. Implementations must be safe to call from worker threads.
/// </summary>
public interface ITaskState
{
    /// <summary>An informational line, worded as PBS's task log words it.</summary>
    void Log(string message);

    /// <summary>A warning line (PBS's task warnings).</summary>
    void Warn(string message);

    /// <summary>Progress of one activity. <paramref name="activityId"/> separates concurrent bars (e.g. per phase).</summary>
    void Progress(int activityId, string activity, string status, int percent);

    /// <summary>Marks an activity's bar complete (progress always ends with a completed record).</summary>
    void Complete(int activityId, string activity);

    /// <summary>Cancelled when the user stops the operation; core code checks it between safe steps.</summary>
    CancellationToken Cancellation { get; }
}

public static class TaskStateExtensions
{
    /// <summary>Throws <see cref="PbsException"/> (OperationStopped) once the task was aborted.</summary>
    public static void CheckAbort(this ITaskState state)
    {
        if (state.Cancellation.IsCancellationRequested)
            throw new PbsException("OperationStopped", PbsErrorKind.OperationStopped, "operation aborted");
    }
}

/// <summary>A task state that drops everything: for tests and callers that do not care.</summary>
public sealed class NullTaskState : ITaskState
{
    public static readonly NullTaskState Instance = new();
    public void Log(string message) { }
    public void Warn(string message) { }
    public void Progress(int activityId, string activity, string status, int percent) { }
    public void Complete(int activityId, string activity) { }
    public CancellationToken Cancellation => CancellationToken.None;
}
