using System.Management.Automation;
using PbsDatastore.Completion;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Infrastructure;

namespace PbsDatastore.Cmdlets;

/// <summary>Opens datastores by path, or by name from datastore.cfg (all configured ones without -Name).</summary>
[Cmdlet(VerbsCommon.Get, "PbsDatastore", DefaultParameterSetName = NameSet)]
[OutputType(typeof(Datastore))]
public sealed class GetPbsDatastore : PbsCmdlet
{
    private const string NameSet = "Name";
    private const string PathSet = "Path";

    [Parameter(ParameterSetName = NameSet, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(DatastoreNameCompleter))]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Name { get; set; }

    [Parameter(ParameterSetName = NameSet)]
    [ValidateNotNullOrEmpty]
    public string? ConfigPath { get; set; }

    [Parameter(ParameterSetName = PathSet, Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName")]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    protected override void ProcessRecord()
    {
        if (ParameterSetName == PathSet)
        {
            foreach (var p in Path) OpenByPath(p);
            return;
        }

        // `Get-PbsDatastore /mnt/datastore/store1` means the path: no datastore name has a slash.
        var names = Name ?? ["*"];
        foreach (var path in names.Where(IsPath)) OpenByPath(path);
        if (names.All(IsPath))
            return;
        string? configPath = null;
        if (ConfigPath != null && !TryFullPath(ConfigPath, out configPath))
            return;
        DatastoreConfig? config = null;
        if (!TryInvoke(configPath, () => config = DatastoreConfig.Load(configPath)))
            return;
        foreach (var name in names.Where(n => !IsPath(n)))
        {
            WildcardPattern pattern = null!;
            if (!TryInvoke(name, () => pattern = Arguments.Pattern(name))) continue;
            var matches = config!.Entries.Where(e => pattern.IsMatch(e.Name)).ToList();
            if (matches.Count == 0 && !WildcardPattern.ContainsWildcardCharacters(name))
            {
                TryInvoke(name, () => config.Get(name));
                continue;
            }
            foreach (var entry in matches)
                TryInvoke(entry.Name, () => WriteObject(Datastore.Open(entry.Path, entry.Name, config)));
        }
    }

    private static bool IsPath(string name) => name.Contains('/');

    private void OpenByPath(string path)
    {
        if (TryFullPath(path, out var full))
            TryInvoke(full, () => WriteObject(Datastore.Open(full)));
    }
}
