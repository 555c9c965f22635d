namespace PbsDatastore.Core.Tests.Support;

/// <summary>A task state that records what it is told: a test double.</summary>
public sealed class RecordingTaskState : ITaskState
{
    private readonly object _gate = new();
    private readonly List<string> _logs = new();
    private readonly List<string> _warnings = new();

    public RecordingTaskState(CancellationToken cancellation = default) => Cancellation = cancellation;

    public IReadOnlyList<string> Logs { get { lock (_gate) return _logs.ToArray(); } }
    public IReadOnlyList<string> Warnings { get { lock (_gate) return _warnings.ToArray(); } }
    public CancellationToken Cancellation { get; }

    public void Log(string message) { lock (_gate) _logs.Add(message); }
    public void Warn(string message) { lock (_gate) _warnings.Add(message); }
    public void Progress(int activityId, string activity, string status, int percent) { }
    public void Complete(int activityId, string activity) { }
}
