using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using PbsDatastore.Core;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Infrastructure;
using PbsDatastore.Objects;

namespace PbsDatastore.Completion;

/// <summary>
/// Tab completion for every name a command line addresses: datastore names (datastore.cfg), namespaces, backup
/// ids, snapshot times and archive names, each read from the store the command line already names. Completion
/// must never fail: anything unreadable simply completes nothing.
/// </summary>
public abstract class PbsCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var word = wordToComplete.Trim('\'', '"');
        List<string> candidates;
        try { candidates = Candidates(new Bound(fakeBoundParameters)).ToList(); }
        catch (Exception e) when (e is PbsException or IOException or UnauthorizedAccessException or ArgumentException) { candidates = []; }
        return candidates
            .Where(c => c.StartsWith(word, StringComparison.OrdinalIgnoreCase))
            .Distinct()
            .Select(c => new CompletionResult(Quote(c), c, CompletionResultType.ParameterValue, c))
            .Concat(MoreResults(wordToComplete))
            .ToList();
    }

    protected abstract IEnumerable<string> Candidates(Bound bound);

    /// <summary>Completions beyond the names <see cref="Candidates"/> gives (e.g. paths).</summary>
    protected virtual IEnumerable<CompletionResult> MoreResults(string wordToComplete) => [];

    private static string Quote(string s) => s.Length == 0 || s.IndexOfAny([' ', '\'', '"', '$', '`', ';', ',', '(', ')', '{', '}', '@', '#', '&', '|']) >= 0
        ? "'" + s.Replace("'", "''") + "'"
        : s;

    /// <summary>What the command line has bound so far, resolved to core objects.</summary>
    protected sealed class Bound(IDictionary parameters)
    {
        private object? Get(string name)
        {
            var v = parameters.Contains(name) ? parameters[name] : null;
            return v is PSObject pso ? pso.BaseObject : v;
        }

        /// <summary>
        /// A bound value as the text the user typed: PowerShell hands a bare number (a backup ID such as 101) to
        /// completers as an int, not a string.
        /// </summary>
        private string? Text(string name) => Get(name) switch
        {
            null => null,
            string s => s,
            IFormattable f when Get(name) is not DateTime and not DateTimeOffset => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
            _ => null,
        };

        public string? ConfigPath => Text("ConfigPath");

        public Datastore? Datastore => Get("Datastore") switch
        {
            Datastore ds => ds,
            IDatastoreItem item => item.Datastore,
            _ when Text("Datastore") is { } s => DatastoreTransformationAttribute.Resolve(s, FileSystemPath),
            _ => null,
        };

        public BackupNamespace Namespace => Text("Namespace") is { } ns ? BackupNamespace.Parse(ns) : BackupNamespace.Root;

        public BackupType? Type => Text("BackupType") is { } t && BackupTypes.TryParse(t, out var type) ? type : null;

        public string? Id => Text("BackupId");

        public string? Time => Get("BackupTime") switch
        {
            DateTimeOffset d => BackupTime.Format(d.ToUnixTimeSeconds()),
            DateTime d => BackupTime.Format(new DateTimeOffset(d.ToUniversalTime()).ToUnixTimeSeconds()),
            _ => Text("BackupTime"),
        };

        /// <summary>
        /// A relative path is relative to the PowerShell location, as when the command runs. Completers get no
        /// session state; a nested pipeline on the completing runspace asks for the location.
        /// </summary>
        private static string FileSystemPath(string path)
        {
            using var ps = PowerShell.Create(RunspaceMode.CurrentRunspace);
            var location = ps.AddCommand("Microsoft.PowerShell.Management\\Get-Location").AddParameter("PSProvider", "FileSystem")
                .Invoke<PathInfo>().FirstOrDefault()?.ProviderPath;
            return Path.GetFullPath(path, location ?? Environment.CurrentDirectory);
        }

        public IEnumerable<BackupGroup> Groups()
        {
            if (Datastore is not { } ds) return [];
            var groups = ds.ListGroups(Namespace);
            if (Type is { } t) groups = groups.Where(g => g.Type == t);
            if (Id is { } id) groups = groups.Where(g => g.Id == id);
            return groups;
        }

        public IEnumerable<BackupSnapshot> Snapshots()
        {
            var snapshots = Groups().SelectMany(g => g.ListSnapshots(_ => { }));
            return Time is { } time ? snapshots.Where(s => s.DirectoryName == time) : snapshots;
        }
    }
}

/// <summary>Datastore names from datastore.cfg, and directories (a datastore can also be given by its path).</summary>
public sealed class DatastoreNameCompleter : PbsCompleter
{
    protected override IEnumerable<string> Candidates(Bound bound)
        => DatastoreConfig.Load(bound.ConfigPath).Entries.Select(e => e.Name);

    protected override IEnumerable<CompletionResult> MoreResults(string wordToComplete)
        => wordToComplete.Length == 0 ? []
            : CompletionCompleters.CompleteFilename(wordToComplete).Where(r => r.ResultType == CompletionResultType.ProviderContainer);
}

public sealed class NamespaceCompleter : PbsCompleter
{
    protected override IEnumerable<string> Candidates(Bound bound)
        => bound.Datastore?.ListNamespaces(onError: _ => { }).Select(n => n.Name).Where(n => n.Length > 0) ?? [];
}

public sealed class BackupIdCompleter : PbsCompleter
{
    protected override IEnumerable<string> Candidates(Bound bound)
    {
        if (bound.Datastore is not { } ds) return [];
        var groups = ds.ListGroups(bound.Namespace);
        return (bound.Type is { } t ? groups.Where(g => g.Type == t) : groups).Select(g => g.Id);
    }
}

public sealed class BackupTimeCompleter : PbsCompleter
{
    protected override IEnumerable<string> Candidates(Bound bound)
        => bound.Groups().SelectMany(g => g.ListSnapshots(_ => { })).Select(s => s.DirectoryName)
            .OrderByDescending(n => n, StringComparer.Ordinal);
}

/// <summary>Archive names (.fidx, .didx, .blob; not the manifest) of the snapshots the command line names.</summary>
public class ArchiveNameCompleter : PbsCompleter
{
    protected override IEnumerable<string> Candidates(Bound bound)
        => bound.Snapshots().SelectMany(s => s.ListFiles()).Where(f => f != BackupSnapshot.ManifestFileName);
}

/// <summary>Index archive names only (.fidx, .didx).</summary>
public sealed class IndexArchiveNameCompleter : ArchiveNameCompleter
{
    protected override IEnumerable<string> Candidates(Bound bound)
        => base.Candidates(bound).Where(f => f.EndsWith(".fidx", StringComparison.Ordinal) || f.EndsWith(".didx", StringComparison.Ordinal));
}
