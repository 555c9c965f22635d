using System.Management.Automation;
using PbsDatastore.Core;

namespace PbsDatastore.Infrastructure;

/// <summary>
/// The core's <see cref="ITaskState"/> for quick steps run on the pipeline thread itself (listing, planning): log
/// lines are verbose messages, warnings are warnings. Long work goes through <see cref="PbsCmdlet"/>'s RunTask,
/// which relays progress and Ctrl+C from a worker thread.
/// </summary>
internal sealed class PipelineTaskState(Cmdlet cmdlet) : ITaskState
{
    public CancellationToken Cancellation => CancellationToken.None;
    public void Log(string message) => cmdlet.WriteVerbose(message);
    public void Warn(string message) => cmdlet.WriteWarning(message);
    public void Progress(int activityId, string activity, string status, int percent) { }
    public void Complete(int activityId, string activity) { }
}
