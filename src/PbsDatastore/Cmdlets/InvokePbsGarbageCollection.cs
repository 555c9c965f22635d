using System.Management.Automation;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Infrastructure;

namespace PbsDatastore.Cmdlets;

/// <summary>
/// Runs PBS's garbage collection on a datastore (exclusive chunk-store lock, atime safety check, mark, sweep,
/// .gc-status). With -WhatIf it is a real dry run: nothing is touched, removed or locked, and the object returned
/// says what a run now would remove and why.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "PbsGarbageCollection", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(GarbageCollectionResult))]
public sealed class InvokePbsGarbageCollection : DatastoreCmdlet
{
    /// <summary>Chunks unreferenced and not accessed for this long are removed (1 minute … 2 days).</summary>
    [Parameter]
    public TimeSpan? AtimeCutoff { get; set; }

    [Parameter]
    public SwitchParameter SkipAtimeCheck { get; set; }

    /// <summary>Also removes killed chunk writers' temp files older than the cutoff (PBS keeps them).</summary>
    [Parameter]
    public SwitchParameter RemoveStaleTempFiles { get; set; }

    protected override void ProcessRecord()
    {
        var options = new GarbageCollectionOptions { AtimeCutoff = AtimeCutoff, SkipAtimeCheck = SkipAtimeCheck, RemoveStaleTempFiles = RemoveStaleTempFiles };
        if (ShouldProcess(Datastore.ToString(), "Remove unreferenced chunks (garbage collection)"))
            TryInvoke(Datastore, () => WriteObject(RunTask(state => GarbageCollection.Run(Datastore, options, state))));
        else if (IsWhatIf)
            TryInvoke(Datastore, () => WriteObject(RunTask(state => GarbageCollection.Run(Datastore, options with { DryRun = true }, state))));
    }

    protected override string? DoneBeforeStop
        => ".gc-status was not updated; the chunks removed before the stop were unreferenced and stay removed.";

    private bool IsWhatIf
        => MyInvocation.BoundParameters.TryGetValue("WhatIf", out var w) ? ((SwitchParameter)w).IsPresent
            : GetVariableValue("WhatIfPreference") is bool b ? b : GetVariableValue("WhatIfPreference") is SwitchParameter s && s.IsPresent;
}
