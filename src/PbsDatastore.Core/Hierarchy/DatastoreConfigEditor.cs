using System.IO.MemoryMappedFiles;
using System.Text;
using PbsDatastore.Core.Locking;
using PbsDatastore.Core.Native;

namespace PbsDatastore.Core.Hierarchy;

/// <summary>
/// Edits datastore.cfg the way PBS's own config writer does, so a running PBS sees a consistent file: the
/// read-modify-write happens under `.datastore.lck` (exclusive flock, 10 s), the file is replaced atomically
/// (`datastore.tmp_XXXXXX`, fsync, 0640 root:backup) and the datastore generation in the shared-memory
/// `config-versions` file is bumped so PBS 4.1.2+ drops its cached copy at once (pbs-datastore §1.11,
/// addendum §7.3). Sections keep their order and are written with sorted keys, as PBS writes them.
/// </summary>
public static class DatastoreConfigEditor
{
    public static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(10);

    private const uint ConfigFileMode = 0x1A0; // 0640
    private static readonly byte[] VersionsMagic = [0x19, 0xc6, 0xa8, 0xe6, 0x9a, 0x84, 0x8f, 0x83];
    private const int DatastoreGenerationOffset = 24;

    public static string LockPath => Path.Combine(PbsPaths.ConfigRoot, ".datastore.lck");

    public static string ConfigVersionsPath => Path.Combine(PbsPaths.RunRoot, "shmem", "config-versions");

    /// <summary>Appends a `datastore: NAME` section with <paramref name="properties"/> (which must hold `path`).</summary>
    public static DatastoreConfigEntry Add(string name, IReadOnlyDictionary<string, string> properties, TimeSpan? lockTimeout = null)
    {
        ValidateName(name);
        return Edit(lockTimeout, sections =>
        {
            if (sections.Any(s => s.Name == name))
                throw new PbsException("DatastoreExists", PbsErrorKind.ResourceExists,
                    $"datastore '{name}' already exists.", name);
            var props = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach (var (k, v) in properties) props[k] = v;
            sections.Add((name, props));
            return name;
        });
    }

    /// <summary>
    /// Sets (non-null value) or removes (null) properties of the section <paramref name="name"/>. `path` cannot be
    /// removed, and a store in `delete` maintenance stays there, as PBS's API enforces.
    /// </summary>
    public static DatastoreConfigEntry Update(string name, IReadOnlyDictionary<string, string?> changes, TimeSpan? lockTimeout = null)
    {
        return Edit(lockTimeout, sections =>
        {
            var section = sections.FirstOrDefault(s => s.Name == name);
            if (section.Properties is null)
                throw new PbsException("DatastoreNotConfigured", PbsErrorKind.ObjectNotFound,
                    $"datastore '{name}' does not exist in {PbsPaths.DatastoreConfigFile}", name);
            if (section.Properties.TryGetValue("maintenance-mode", out var mode) && changes.ContainsKey("maintenance-mode")
                && MaintenanceModeType(mode) == "delete" && MaintenanceModeType(changes["maintenance-mode"]) != "delete")
                throw new PbsException("DatastoreBeingDeleted", PbsErrorKind.InvalidOperation,
                    $"datastore '{name}' is being deleted: its maintenance mode cannot change", name);
            foreach (var (k, v) in changes)
            {
                if (v is null)
                {
                    if (k == "path")
                        throw new PbsException("InvalidDatastoreConfig", PbsErrorKind.InvalidArgument,
                            $"datastore '{name}': 'path' cannot be removed", name);
                    section.Properties.Remove(k);
                }
                else section.Properties[k] = v;
            }
            return name;
        });
    }

    /// <summary>PBS's writer: `datastore: NAME`, then tab-indented `key value` lines, one blank line between sections.</summary>
    public static string Format(IEnumerable<(string Name, IEnumerable<KeyValuePair<string, string>> Properties)> sections)
    {
        var sb = new StringBuilder();
        foreach (var (name, props) in sections)
        {
            if (sb.Length > 0) sb.Append('\n');
            sb.Append("datastore: ").Append(name).Append('\n');
            foreach (var (k, v) in props.OrderBy(p => p.Key, StringComparer.Ordinal))
                sb.Append('\t').Append(k).Append(' ').Append(v).Append('\n');
        }
        return sb.ToString();
    }

    private static DatastoreConfigEntry Edit(TimeSpan? lockTimeout,
        Func<List<(string Name, SortedDictionary<string, string> Properties)>, string> change)
    {
        var path = PbsPaths.DatastoreConfigFile;
        using var held = FileLocks.LockFile(LockPath, exclusive: true, lockTimeout ?? LockTimeout, "datastore config lock");
        var current = File.Exists(path) ? DatastoreConfig.Load(path) : DatastoreConfig.Parse("", path);
        var sections = current.Entries
            .Select(e => (e.Name, new SortedDictionary<string, string>(e.Properties.ToDictionary(), StringComparer.Ordinal)))
            .ToList();
        var name = change(sections);
        var text = Format(sections.Select(s => (s.Name, (IEnumerable<KeyValuePair<string, string>>)s.Item2)));
        // The new text must be one PBS can read: a bad value would make every PBS datastore lookup fail.
        var written = DatastoreConfig.Parse(text, path);
        AtomicFile.Replace(path, Encoding.UTF8.GetBytes(text), ConfigFileMode, ConfigOwner(), fsync: true);
        BumpDatastoreGeneration();
        return written.Get(name);
    }

    /// <summary>PBS's datastore name rule: SAFE_ID, 3 to 32 characters.</summary>
    public static void ValidateName(string name)
    {
        if (name.Length < 3 || name.Length > 32 || !PbsNames.IsSafeId(name))
            throw new PbsException("InvalidDatastoreName", PbsErrorKind.InvalidArgument,
                $"invalid datastore name {PbsNames.Quote(name)} - 3 to 32 letters, digits, '_', '.', '-'", name);
    }

    private static string? MaintenanceModeType(string? value)
        => value is null ? null : MaintenanceMode.Parse(value, PbsPaths.DatastoreConfigFile).Type;

    /// <summary>root:backup when running as root (PBS's config files), else the file stays this user's.</summary>
    private static (uint Uid, uint Gid)? ConfigOwner()
        => Libc.GetEuid() == 0 && BackupOwner.Ids is var (_, gid) ? (0u, gid) : null;

    /// <summary>Atomically adds 1 to the datastore generation, when PBS's shared-memory counters exist.</summary>
    private static unsafe void BumpDatastoreGeneration()
    {
        var path = ConfigVersionsPath;
        if (!File.Exists(path) || new FileInfo(path).Length < DatastoreGenerationOffset + 8)
            return;
        using var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.ReadWrite);
        using var view = map.CreateViewAccessor(0, DatastoreGenerationOffset + 8, MemoryMappedFileAccess.ReadWrite);
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        try
        {
            p += view.PointerOffset;
            if (!new ReadOnlySpan<byte>(p, VersionsMagic.Length).SequenceEqual(VersionsMagic))
                return;
            Interlocked.Increment(ref *(long*)(p + DatastoreGenerationOffset));
        }
        finally { view.SafeMemoryMappedViewHandle.ReleasePointer(); }
    }
}
