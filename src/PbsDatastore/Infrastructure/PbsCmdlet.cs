using System.Management.Automation;
using System.Security;
using PbsDatastore.Core;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Objects;

namespace PbsDatastore.Infrastructure;

/// <summary>
/// Base of every PbsDatastore cmdlet: runs core work through the TaskState adapter and turns failures into
/// ErrorRecords. Derived cmdlets stay thin: bind parameters, ask ShouldProcess, call the core, write objects.
/// </summary>
public abstract class PbsCmdlet : PSCmdlet, IDisposable
{
    /// <summary>Smallest -MemoryLimit: below it every pass would hold a handful of digests.</summary>
    protected const long MinMemoryLimit = 1L << 20;

    private readonly StopReport _stop;
    private Datastore? _datastore;
    private PbsException? _datastoreFailure;

    // The stores met since the last record brought another one; earlier ones are closed already, and not kept, so
    // a pipeline of many deserialized records holds a bounded set.
    private readonly List<Datastore> _recentStores = [];

    /// <summary>
    /// What the -Datastore parameters read and set. A name or path that did not resolve binds as null with its
    /// failure, which is reported here, at first use, as a terminating error with the documented ErrorId
    /// (DatastoreNotFound, DatastoreConfigInvalid, ...) so that scripts can catch it by id.
    /// </summary>
    protected Datastore BoundDatastore
    {
        get
        {
            if (_datastoreFailure is { } failure)
                ThrowTerminating(failure, failure.Target);
            return _datastore!;
        }
        set
        {
            _datastore = value is null ? null : Hold(value);
            _datastoreFailure = value is null ? DatastoreTransformationAttribute.TakeFailure() : null;
        }
    }

    /// <summary>
    /// Registers the stores this command works on: a datastore, or the store of a group, snapshot or output
    /// object (or of each in an array), whether the binder opened it from a name, a path or a deserialized
    /// object, or it came live from the pipeline; returns <paramref name="value"/>. The command closes them when
    /// it ends (<see cref="Dispose()"/>), and closes those of earlier records when a record brings another store:
    /// the binder opens a new store for every deserialized record, each worth two descriptors once used. A
    /// closed store stays usable: it opens again on use.
    /// </summary>
    protected T Hold<T>(T value)
    {
        switch (value)
        {
            case Datastore store:
                if (_recentStores.Any(held => ReferenceEquals(held, store))) break;
                foreach (var earlier in _recentStores) earlier.Dispose();
                _recentStores.Clear();
                _recentStores.Add(store);
                break;
            case BackupGroup group: Hold(group.Datastore); break;
            case BackupSnapshot snapshot: Hold(snapshot.Datastore); break;
            case IDatastoreItem item: Hold(item.Datastore); break;
            case System.Collections.IEnumerable items and not string:
                foreach (var item in items) Hold(item);
                break;
        }
        return value;
    }

    protected PbsCmdlet() => _stop = new StopReport(ReportStop);

    /// <summary>Runs core work on a worker thread, relaying log/warning/progress and Ctrl+C.</summary>
    protected T RunTask<T>(Func<ITaskState, T> operation)
    {
        using var adapter = new TaskStateAdapter();
        _stop.JobStarted(adapter);
        try { return adapter.Run(this, operation); }
        finally { _stop.JobEnded(adapter); }
    }

    /// <summary>What was done before a Ctrl+C, for the message the user gets then (null: nothing to say).</summary>
    protected virtual string? DoneBeforeStop => null;

    /// <summary>
    /// Says on the host that the command was stopped and how far it got: a stopping pipeline takes no more
    /// output, warnings or errors, and a silent stop leaves the user guessing what happened to the store. Called
    /// once per command (<see cref="StopReport"/>).
    /// </summary>
    private void ReportStop(string? lastStep)
    {
        var text = $"{MyInvocation.MyCommand.Name} was stopped (Ctrl+C).";
        if (DoneBeforeStop is { } done) text += " " + done;
        if (lastStep is not null) text += $" Last step: {lastStep.Trim()}";
        try { Host?.UI?.WriteWarningLine(text); }
        catch (Exception e) when (e is PSInvalidOperationException or NotImplementedException or System.Management.Automation.Host.HostException) { }
    }

    protected void RunTask(Action<ITaskState> operation) => RunTask<object?>(state => { operation(state); return null; });

    /// <summary>
    /// Runs a core job that yields results as it goes (e.g. group by group) on a worker thread; each result is
    /// handed to <paramref name="write"/> on the pipeline thread as soon as it is yielded.
    /// </summary>
    protected void StreamTask<T>(Func<ITaskState, IEnumerable<T>> job, Action<T> write)
        => RunTask(state =>
        {
            foreach (var item in job(state))
                ((TaskStateAdapter)state).Emit(_ => write(item));
        });

    /// <summary>Runs <paramref name="action"/>; a failure becomes a non-terminating error about <paramref name="target"/>.</summary>
    protected bool TryInvoke(object? target, Action action)
    {
        try
        {
            action();
            return true;
        }
        catch (PbsException e)
        {
            WriteError(ErrorRecords.From(e, target));
        }
        catch (PipelineStoppedException)
        {
            throw;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or OperationCanceledException)
        {
            WriteError(ErrorRecords.FromUnexpected(e, target));
        }
        return false;
    }

    /// <summary>
    /// File system paths a -Path argument names (wildcards expanded, relative to the PowerShell location); a path
    /// that names nothing becomes a PathNotFound error.
    /// </summary>
    protected IEnumerable<string> ResolvePaths(string path)
    {
        try
        {
            return GetResolvedProviderPathFromPSPath(path, out _);
        }
        catch (ItemNotFoundException e)
        {
            WriteError(new ErrorRecord(e, "PathNotFound", ErrorCategory.ObjectNotFound, path));
        }
        catch (Exception e) when (e is ProviderNotFoundException or System.Management.Automation.DriveNotFoundException or NotSupportedException)
        {
            WriteError(new ErrorRecord(e, "InvalidPath", ErrorCategory.InvalidArgument, path));
        }
        return [];
    }

    /// <summary>The file-system path of a PowerShell path (relative to the location; not required to exist).</summary>
    protected string FullPath(string path) => Arguments.FullPath(path, GetUnresolvedProviderPathFromPSPath);

    /// <summary><see cref="FullPath"/>, or false after writing the error about <paramref name="path"/>.</summary>
    protected bool TryFullPath(string path, out string fullPath)
    {
        string? full = null;
        var ok = TryInvoke(path, () => full = FullPath(path));
        fullPath = full!;
        return ok;
    }

    /// <summary>
    /// The key of a -KeyFile argument (null without one); a key that cannot be loaded stops the cmdlet. A
    /// password-protected key without -Password asks for the password, as PBS's client does, where the host can.
    /// </summary>
    protected CryptConfig? LoadKeyFile(string? keyFile, SecureString? password)
    {
        if (keyFile is null) return null;
        try { return KeyFiles.Load(FullPath(keyFile), password); }
        catch (PbsException e) when (e.ErrorId == "KeyPasswordRequired" && password is null && PromptForPassword(keyFile) is { } typed)
        {
            return LoadKeyFile(keyFile, typed);
        }
        catch (PbsException e)
        {
            ThrowTerminating(e, keyFile);
            return null;
        }
    }

    /// <summary>The password typed at the host's prompt; null when the host cannot prompt (-NonInteractive, jobs).</summary>
    private SecureString? PromptForPassword(string keyFile)
    {
        if (Host?.UI is not { } ui) return null;
        var field = new System.Management.Automation.Host.FieldDescription("Password");
        field.SetParameterType(typeof(SecureString));
        try
        {
            var answer = ui.Prompt($"Key file {keyFile}", "The key is password protected.", [field]);
            return answer.TryGetValue("Password", out var value) ? value?.BaseObject as SecureString : null;
        }
        catch (Exception e) when (e is PSInvalidOperationException or NotImplementedException or System.Management.Automation.Host.HostException)
        {
            return null;
        }
    }

    /// <summary>Stops the cmdlet with a terminating error built from a core failure.</summary>
    protected void ThrowTerminating(PbsException e, object? target = null)
        => ThrowTerminatingError(ErrorRecords.From(e, target));

    protected override void StopProcessing() => _stop.Stop();

    /// <summary>
    /// PowerShell disposes the cmdlets of a pipeline when it ends, after EndProcessing, a stop or a terminating
    /// error: the stores the command held (<see cref="Hold{T}"/>) close their descriptors (once no job holds
    /// them), so a script that runs a command per store in a loop does not collect open directories.
    /// The store's objects stay usable and open it again on use. A stop no job reported is reported here, on the
    /// pipeline thread (<see cref="Cmdlet.Stopping"/>: the pipeline is being stopped, not failing).
    /// </summary>
    public void Dispose()
    {
        _stop.CommandEnded(Stopping);
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (!disposing) return;
        // -Datastore too: a later record may have closed it, and the command then used it again.
        _datastore?.Dispose();
        foreach (var store in _recentStores) store.Dispose();
    }
}
