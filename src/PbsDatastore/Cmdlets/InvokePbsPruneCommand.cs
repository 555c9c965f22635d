using System.Management.Automation;
using PbsDatastore.Completion;
using PbsDatastore.Core;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Infrastructure;

namespace PbsDatastore.Cmdlets;

/// <summary>
/// PBS's prune: per group, keep the snapshots the keep options select (PBS's algorithm, local time) and remove the
/// rest, oldest first, with the locked snapshot removal. One result per snapshot; -WhatIf is the simulator.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "PbsPrune", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High,
    DefaultParameterSetName = GroupSet)]
[OutputType(typeof(PruneResult))]
public sealed class InvokePbsPruneCommand : PbsCmdlet
{
    private const string GroupSet = "Group";
    private const string DatastoreSet = "Datastore";

    private PruneOptions _options = null!;
    private TimeZoneInfo _zone = TimeZoneInfo.Local;

    /// <summary>Groups to prune (Get-PbsBackupGroup output binds here).</summary>
    [Parameter(Mandatory = true, ParameterSetName = GroupSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [IdentityTransformation(typeof(BackupGroup))]
    public BackupGroup[] BackupGroup { get; set => field = Hold(value); } = [];

    /// <summary>
    /// Prune every group of a datastore (object, configured name or path) below -Namespace. Not bound from the
    /// pipeline on purpose: a piped group must never widen into its whole datastore.
    /// </summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = DatastoreSet)]
    [DatastoreTransformation, AllowNull]
    [ArgumentCompleter(typeof(DatastoreNameCompleter))]
    public Datastore Datastore { get => BoundDatastore; set => BoundDatastore = value; }

    [Parameter(ParameterSetName = DatastoreSet)]
    [AllowEmptyString]
    public string Namespace { get; set; } = "";

    /// <summary>Namespace levels below -Namespace (0: only it; default: all, as PBS's 7).</summary>
    [Parameter(ParameterSetName = DatastoreSet)]
    [ValidateRange(0, 7)]
    public int? MaxDepth { get; set; }

    [Parameter, ValidateRange(1, int.MaxValue)] public int? KeepLast { get; set; }
    [Parameter, ValidateRange(1, int.MaxValue)] public int? KeepHourly { get; set; }
    [Parameter, ValidateRange(1, int.MaxValue)] public int? KeepDaily { get; set; }
    [Parameter, ValidateRange(1, int.MaxValue)] public int? KeepWeekly { get; set; }
    [Parameter, ValidateRange(1, int.MaxValue)] public int? KeepMonthly { get; set; }
    [Parameter, ValidateRange(1, int.MaxValue)] public int? KeepYearly { get; set; }

    /// <summary>Time zone of the period keys (IANA ID); default the local one, as PBS uses its server's.</summary>
    [Parameter]
    public string? TimeZone { get; set; }

    protected override void BeginProcessing()
    {
        _options = new PruneOptions
        {
            KeepLast = KeepLast, KeepHourly = KeepHourly, KeepDaily = KeepDaily,
            KeepWeekly = KeepWeekly, KeepMonthly = KeepMonthly, KeepYearly = KeepYearly,
        };
        if (TimeZone is not null)
        {
            try { _zone = TimeZoneInfo.FindSystemTimeZoneById(TimeZone); }
            catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
            {
                ThrowTerminating(new PbsException("TimeZoneNotFound", PbsErrorKind.InvalidArgument, $"unknown time zone '{TimeZone}'", TimeZone, e));
            }
        }
        if (!_options.KeepsSomething)
            WriteWarning("No prune selection - keeping all files.");
    }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == GroupSet)
        {
            foreach (var group in BackupGroup)
            {
                PruneJob.StartGroup(group, _options, new PipelineTaskState(this));
                TryInvoke(group.ToString(), () => PruneGroup(group));
            }
            return;
        }

        TryInvoke(Datastore.Name, () =>
        {
            var ns = BackupNamespace.Parse(Namespace);
            var log = new PipelineTaskState(this);
            foreach (var group in PruneJob.DatastoreGroups(Datastore, ns, MaxDepth, _options, log, e => WriteError(ErrorRecords.From(e))))
                TryInvoke(group.ToString(), () => PruneGroup(group));
        });
    }

    private void PruneGroup(BackupGroup group)
    {
        foreach (var entry in PruneJob.PlanGroup(group, _options, _zone))
        {
            var remove = !entry.Keep && ShouldProcess(entry.BackupSnapshot.ToString(), "Remove snapshot (prune)");
            WriteObject(RunTask(task => PruneJob.Execute(entry, remove, task)));
        }
    }
}
