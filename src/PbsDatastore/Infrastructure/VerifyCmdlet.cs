using System.Management.Automation;
using System.Security;
using PbsDatastore.Core;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Memory;

namespace PbsDatastore.Infrastructure;

/// <summary>
/// What Test-PbsSnapshot and Test-PbsDatastore share: the verify options and one <see cref="VerifyJob"/> per
/// datastore per invocation, so every snapshot of one pipeline run shares the verified/corrupt chunk sets.
/// -WhatIf verifies read-only: no verify_state written, no corrupt chunk renamed.
/// </summary>
public abstract class VerifyCmdlet : PbsCmdlet
{
    /// <summary>The user named in the task's UPID (PBS records who ran the verification).</summary>
    protected const string AuthId = "root@pam";

    private readonly Dictionary<string, VerifyJob> _jobs = new();
    private CryptConfig? _key;

    /// <summary>PBS's fast index verification: every referenced chunk exists. Reads no chunk, writes nothing.</summary>
    [Parameter] public SwitchParameter Fast { get; set; }

    /// <summary>Key file: encrypted chunks are also decrypted and checked, signed manifests checked.</summary>
    [Parameter] public string? KeyFile { get; set; }

    /// <summary>Password of a passphrase-protected key file.</summary>
    [Parameter] public SecureString? Password { get; set; }

    /// <summary>PBS's ignore-verified: skip snapshots whose manifest records a verification (see -OutdatedAfter).</summary>
    [Parameter] public SwitchParameter IgnoreVerified { get; set; }

    /// <summary>With -IgnoreVerified: verify again when the recorded verification is more than this many days old.</summary>
    [Parameter, ValidateRange(0, int.MaxValue)] public int? OutdatedAfter { get; set; }

    /// <summary>PBS's read-threads: threads loading chunks (default: the datastore's tuning, else 1).</summary>
    [Parameter, ValidateRange(1, VerifyTuning.MaxThreads)] public int? ReadThreads { get; set; }

    /// <summary>
    /// PBS's verify-threads: threads decoding and checking chunks (default: the datastore's tuning, else 4).
    /// -ThrottleLimit is its earlier name.
    /// </summary>
    [Parameter, ValidateRange(1, VerifyTuning.MaxThreads), Alias("ThrottleLimit")] public int? VerifyThreads { get; set; }

    /// <summary>
    /// Bytes the verification may hold (default 256 MiB), most of it the set of chunks verified so far; beyond it
    /// those verified longest ago are forgotten and checked again if another snapshot references them: more
    /// reading, the same result.
    /// </summary>
    [Parameter, ValidateRange(MinMemoryLimit, long.MaxValue)]
    public long MemoryLimit { get; set; } = DigestPartitions.DefaultMemoryLimit;

    protected override void BeginProcessing() => _key = LoadKeyFile(KeyFile, Password);

    /// <summary>
    /// Asks ShouldProcess for <paramref name="target"/>; false when the user declined. Under -WhatIf the answer is
    /// true with a read-only job.
    /// </summary>
    protected bool TryGetJob(Datastore store, string target, Func<Upid> upid, out VerifyJob job)
    {
        var reason = ShouldProcessReason.None;
        var proceed = Fast || ShouldProcess($"Verify {target} (records verify_state, renames corrupt chunks)",
            $"Verify {target}? Its manifest gets verify_state; corrupt chunks are renamed to .bad.", "Verify", out reason);
        var dryRun = !proceed && reason == ShouldProcessReason.WhatIf;
        if (!proceed && !dryRun)
        {
            job = null!;
            return false;
        }
        if (!_jobs.TryGetValue(store.Path, out job!))
        {
            job = new VerifyJob(store, new VerifyOptions
            {
                Fast = Fast,
                Key = _key,
                IgnoreVerified = IgnoreVerified,
                OutdatedAfterDays = OutdatedAfter,
                ReadThreads = ReadThreads,
                VerifyThreads = VerifyThreads,
                DryRun = dryRun,
                AuthId = AuthId,
                MemoryLimit = MemoryLimit,
            }, upid());
            _jobs[store.Path] = job;
            var tuning = job.Chunks.Tuning;
            WriteDebug($"verify {store.Name}: chunk-order {tuning.ChunkOrder.ToString().ToLowerInvariant()}, "
                + $"{tuning.ReadThreads} read threads, {tuning.VerifyThreads} verify threads");
        }
        return true;
    }

    /// <summary>Verifies one snapshot and writes its result.</summary>
    protected void VerifyAndWrite(VerifyJob job, BackupSnapshot snapshot) =>
        WriteResults([RunTask(task => job.VerifySnapshot(snapshot, task))]);

    protected void WriteResults(IEnumerable<SnapshotVerifyResult> results)
    {
        foreach (var result in results)
        {
            _done++;
            if (result.State == SnapshotVerifyState.Failed)
            {
                _failed++;
                WriteWarning($"verification of {result.BackupSnapshot} failed: {Describe(result)}");
            }
            WriteObject(result);
        }
    }

    private int _done, _failed;

    protected override string? DoneBeforeStop
        => $"Results of {_done} snapshot(s) were written before the stop ({_failed} failed); the snapshot being verified "
            + "when it stopped keeps the verify state it had.";

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            foreach (var job in _jobs.Values) job.Dispose();
        base.Dispose(disposing);
    }

    private static string Describe(SnapshotVerifyResult result) =>
        result.Error ?? string.Join("; ", result.Archives.Where(a => !a.Ok).Select(a => $"{a.Filename}: {a.Error}"));
}
