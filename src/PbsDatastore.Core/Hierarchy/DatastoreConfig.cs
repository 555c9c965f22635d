namespace PbsDatastore.Core.Hierarchy;

/// <summary>
/// PBS's `datastore.cfg` (section config): `datastore: NAME` headers, indented `key value` lines, sections
/// separated by blank lines. Parsing follows PBS's syntax rules (key-only lines, duplicate keys, missing `path`
/// and malformed property strings are errors). Keys are accepted up to PBS 4.2's set; a key no PBS knows is an
/// error as in PBS, because such a file would make PBS itself fail.
/// </summary>
public sealed class DatastoreConfig
{
    private static readonly HashSet<string> KnownKeys = new(StringComparer.Ordinal)
    {
        "path", "comment", "gc-schedule", "prune-schedule", "keep-last", "keep-hourly", "keep-daily", "keep-weekly",
        "keep-monthly", "keep-yearly", "verify-new", "notify-user", "notify", "notification-mode", "tuning",
        "maintenance-mode",
        // newer than 3.2.4 (pbs-newer-versions §7.1)
        "backing-device", "gc-on-unmount", "backend", "notification-thresholds", "counter-reset-schedule",
    };

    private readonly List<DatastoreConfigEntry> _entries;

    private DatastoreConfig(string path, List<DatastoreConfigEntry> entries)
    {
        Path = path;
        _entries = entries;
    }

    /// <summary>The file this configuration was read from.</summary>
    public string Path { get; }

    /// <summary>Sections in file order.</summary>
    public IReadOnlyList<DatastoreConfigEntry> Entries => _entries;

    /// <summary>Reads and parses a datastore.cfg (default <see cref="PbsPaths.DatastoreConfigFile"/>).</summary>
    public static DatastoreConfig Load(string? path = null)
    {
        path ??= PbsPaths.DatastoreConfigFile;
        return Parse(SectionConfig.ReadText(path, "DatastoreConfigNotFound", "DatastoreConfigUnreadable", "datastore configuration"), path);
    }

    /// <summary>Parses datastore.cfg text; <paramref name="source"/> names it in errors.</summary>
    public static DatastoreConfig Parse(string text, string source = "datastore.cfg")
    {
        var sections = SectionConfig.Parse(text, source, ["datastore"], KnownKeys.Contains, _ => false,
            message => new PbsException("DatastoreConfigInvalid", PbsErrorKind.InvalidData, message, source));
        var entries = new List<DatastoreConfigEntry>();
        foreach (var section in sections)
        {
            if (!section.Properties.TryGetValue("path", out var p) || p.Length == 0)
                throw new PbsException("DatastoreConfigInvalid", PbsErrorKind.InvalidData,
                    $"{source}:{section.HeaderLine}: datastore '{section.Id}': missing property 'path'", source);
            entries.Add(new DatastoreConfigEntry(section.Id, section.Properties, source));
        }
        return new DatastoreConfig(source, entries);
    }

    /// <summary>The section named <paramref name="name"/>; throws DatastoreNotConfigured.</summary>
    public DatastoreConfigEntry Get(string name)
        => TryGet(name) ?? throw new PbsException("DatastoreNotConfigured", PbsErrorKind.ObjectNotFound,
            $"datastore '{name}' does not exist in {Path}", name);

    public DatastoreConfigEntry? TryGet(string name) => _entries.FirstOrDefault(e => e.Name == name);

    /// <summary>The section whose `path` is <paramref name="storePath"/> (compared as full paths).</summary>
    public DatastoreConfigEntry? FindByPath(string storePath)
    {
        var full = Normalize(storePath);
        return _entries.FirstOrDefault(e => e.BackingDevice == null && Normalize(e.Path) == full);
    }

    private static string Normalize(string p) => System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(p));
}

/// <summary>One `datastore:` section.</summary>
public sealed class DatastoreConfigEntry
{
    internal DatastoreConfigEntry(string name, Dictionary<string, string> properties, string source)
    {
        Name = name;
        Properties = properties;
        Tuning = PropertyString.Parse(properties.GetValueOrDefault("tuning"), null, source, "tuning");
        MaintenanceMode = properties.TryGetValue("maintenance-mode", out var mm)
            ? MaintenanceMode.Parse(mm, source) : null;
        Backend = DatastoreBackend.Parse(properties.GetValueOrDefault("backend"), source);
        if (properties.TryGetValue("notify", out var notify))
            PropertyString.Parse(notify, null, source, "notify");
    }

    public string Name { get; }

    /// <summary>All properties as written.</summary>
    public IReadOnlyDictionary<string, string> Properties { get; }

    /// <summary>The `path` key. For a removable store (`backing-device`) PBS mounts it at /mnt/datastore/NAME.</summary>
    public string Path => BackingDevice != null ? $"/mnt/datastore/{Name}" : Properties["path"];

    public string? BackingDevice => Properties.GetValueOrDefault("backing-device");

    public string? Comment => Properties.GetValueOrDefault("comment");

    /// <summary>
    /// The `backend` property: `filesystem` (also when unset) or `s3` (PBS ≥ 4.0.4), whose directory on disk is only
    /// a local cache of the bucket (addendum §4).
    /// </summary>
    public DatastoreBackend Backend { get; }

    /// <summary>The backend type: `filesystem` or `s3`.</summary>
    public string BackendType => Backend.Type;

    /// <summary>Sub-keys of `tuning` (`chunk-order`, `sync-level`, GC tuning of newer PBS).</summary>
    public IReadOnlyDictionary<string, string> Tuning { get; }

    public MaintenanceMode? MaintenanceMode { get; }

    /// <summary>
    /// The first other store of <paramref name="stores"/> whose directory contains this one's or lies inside it,
    /// with why (PBS ≥ 3.3.0 refuses GC then): compared component by component on the absolute paths, and for
    /// stores on the same backing device also on their paths relative to it. Null when nothing is nested.
    /// </summary>
    public (DatastoreConfigEntry Other, string Reason)? FindNesting(IEnumerable<DatastoreConfigEntry> stores)
    {
        foreach (var other in stores)
        {
            if (other.Name == Name) continue;
            if (other.BackingDevice == BackingDevice && Nested(Properties.GetValueOrDefault("path"), other.Properties.GetValueOrDefault("path")))
                return (other, $"its path on the backing device and that of datastore '{other.Name}' ({other.Properties["path"]}) are nested");
            if (Nested(Path, other.Path))
                return (other, $"its directory and that of datastore '{other.Name}' ({other.Path}) are nested");
        }
        return null;
    }

    /// <summary>
    /// One path equals the other or is below it, component by component: "a/b" is below "a", "ab" is not, "/a" and
    /// "a" differ, repeated and trailing slashes and "." components do not count.
    /// </summary>
    private static bool Nested(string? a, string? b)
    {
        if (a is null || b is null) return false;
        var x = Components(a);
        var y = Components(b);
        var common = Math.Min(x.Count, y.Count);
        return x.Take(common).SequenceEqual(y.Take(common));
    }

    private static List<string> Components(string path)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(c => c != ".").ToList();
        if (path.StartsWith('/')) parts.Insert(0, "/");
        return parts;
    }
}
