using PbsDatastore.Core.Locking;
using PbsDatastore.Core.Native;
using PbsDatastore.Core.Store;

namespace PbsDatastore.Core.Hierarchy;

/// <summary>
/// An opened PBS datastore directory: its name (for lock paths and config), its typed tuning, its raw storage
/// (<see cref="Backend"/>, opened once on first use) and the namespace / group / snapshot hierarchy as PBS's
/// iterators list it. The one way into a store: every core job takes a <see cref="Datastore"/>.
/// </summary>
public sealed partial class Datastore : IDisposable
{
    private readonly Lazy<DatastoreTuning> _tuning;
    private readonly Func<IDatastoreBackend> _openBackend;
    private readonly Lock _backendGate = new();
    private Func<IDatastoreBackend, IDatastoreBackend>? _wrapBackend;
    private IDatastoreBackend? _backend;
    private int _leases;
    private bool _closeWhenIdle;

    private Datastore(string path, string name, DatastoreConfigEntry? config, LockScheme locking)
    {
        Path = path;
        Name = name;
        Config = config;
        Locking = locking;
        // Parsed on first use, so that a broken tuning line fails the job that needs it, with the store named.
        _tuning = new(() => config is null ? DatastoreTuning.Default : DatastoreTuning.Parse(config.Tuning, name));
        _openBackend = () => config?.Backend is { IsS3: true } s3
            ? S3.S3Backend.Open(Name, Path, s3.Client!, s3.Bucket!, syncChunks: Tuning.SyncLevel == SyncLevel.File)
            : FilesystemBackend.Open(Name, Path, syncChunks: Tuning.SyncLevel == SyncLevel.File);
    }

    /// <summary>Whether the chunks live in an S3 bucket and this directory is only the local cache (addendum §4).</summary>
    public bool IsS3 => Config?.Backend.IsS3 == true;

    /// <summary>The S3 backend when the chunks live in a bucket: changes are mirrored through it (addendum §4.7).</summary>
    internal S3.S3Backend? S3Mirror => IsS3 ? Backend as S3.S3Backend : null;

    /// <summary>The datastore.cfg <c>tuning</c> of this store, with PBS's defaults.</summary>
    public DatastoreTuning Tuning => _tuning.Value;

    /// <summary>
    /// The raw storage layer (chunk files, chunk directories, index reads), opened on first use and kept until
    /// <see cref="Dispose"/>. A job holds a <see cref="LeaseBackend"/> while it uses it, so that a Dispose from
    /// another thread (the command that opened the store ending) cannot close it under the job: while a lease is
    /// held this is the leased backend.
    /// </summary>
    public IDatastoreBackend Backend
    {
        get
        {
            lock (_backendGate) return OpenedBackend();
        }
    }

    /// <summary>
    /// The backend, held open until the lease is disposed: <see cref="Dispose"/> closes it only once no lease is
    /// left. Its descriptors are plain numbers in the per-chunk calls, so closing them under a running job could
    /// make its later calls act on whatever file reuses the number.
    /// </summary>
    public BackendLease LeaseBackend()
    {
        lock (_backendGate)
        {
            var backend = OpenedBackend();
            _leases++;
            return new BackendLease(this, backend);
        }
    }

    internal void Release()
    {
        lock (_backendGate)
        {
            if (--_leases == 0 && _closeWhenIdle) CloseBackend();
        }
    }

    private IDatastoreBackend OpenedBackend()
    {
        if (_backend is null)
        {
            var opened = _openBackend();
            _backend = _wrapBackend is null ? opened : _wrapBackend(opened);
            _closeWhenIdle = false;
        }
        return _backend;
    }

    private void CloseBackend()
    {
        _backend?.Dispose();
        _backend = null;
        _closeWhenIdle = false;
    }

    /// <summary>Wraps the backend this store opens from now on (tests inject storage faults this way).</summary>
    internal void WrapBackend(Func<IDatastoreBackend, IDatastoreBackend> wrap)
    {
        lock (_backendGate)
        {
            var before = _wrapBackend;
            _wrapBackend = before is null ? wrap : inner => wrap(before(inner));
            if (_backend is not null) _backend = wrap(_backend);
        }
    }

    /// <summary>
    /// Closes the backend's descriptors (and S3 client) now, or when the last <see cref="LeaseBackend"/> ends. The
    /// store stays usable: its objects live on in output, and a later use opens the backend again.
    /// </summary>
    public void Dispose()
    {
        lock (_backendGate)
        {
            if (_leases == 0) CloseBackend();
            else _closeWhenIdle = true;
        }
    }

    /// <summary>Absolute path of the datastore root.</summary>
    public string Path { get; }

    /// <summary>Datastore name: as given, as configured for this path, or else the directory name.</summary>
    public string Name { get; }

    /// <summary>The datastore.cfg section of this store, if it was found.</summary>
    public DatastoreConfigEntry? Config { get; }

    /// <summary>Which PBS lock scheme(s) operations on this store take (decided when the store was opened).</summary>
    internal LockScheme Locking { get; }

    public string ChunkStorePath => System.IO.Path.Combine(Path, ChunkLayout.ChunkDirName);

    /// <summary>The chunk store's process-lock file `.lock`.</summary>
    public string ProcessLockPath => System.IO.Path.Combine(Path, ChunkLayout.LockFileName);

    /// <summary>
    /// Opens the datastore at <paramref name="path"/>; it must be a directory containing `.chunks`. Without a
    /// name, the datastore.cfg section with this path names it (when readable), else the directory name.
    /// <paramref name="locking"/> forces a lock scheme instead of detecting it (<see cref="LockScheme.Detect"/>).
    /// </summary>
    public static Datastore Open(string path, string? name = null, DatastoreConfig? config = null, LockScheme? locking = null)
    {
        if (string.IsNullOrEmpty(path))
            throw new PbsException("DatastoreNotFound", PbsErrorKind.InvalidArgument, "datastore path is empty", path);
        var full = System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(path));
        if (!Directory.Exists(full))
            throw new PbsException("DatastoreNotFound", PbsErrorKind.ObjectNotFound,
                $"datastore path \"{full}\" does not exist or is not a directory", full);
        if (!Directory.Exists(System.IO.Path.Combine(full, ChunkLayout.ChunkDirName)))
            throw new PbsException("NotADatastore", PbsErrorKind.InvalidData,
                $"\"{full}\" is not a datastore (no .chunks directory)", full);
        if (name != null && (name.Length < 3 || name.Length > 32 || !PbsNames.IsSafeId(name)))
            throw new PbsException("InvalidDatastoreName", PbsErrorKind.InvalidArgument,
                $"invalid datastore name {PbsNames.Quote(name)}", name);

        DatastoreConfigEntry? entry = null;
        if (config == null && File.Exists(PbsPaths.DatastoreConfigFile))
        {
            // Opening by path must work on a machine whose datastore.cfg is broken; the name then falls back.
            try { config = DatastoreConfig.Load(); } catch (PbsException) { }
        }
        if (config != null)
            entry = name != null ? config.TryGet(name) : config.FindByPath(full);
        // A name whose section points elsewhere would lend this directory another store's maintenance mode,
        // tuning and move journal.
        if (name != null && entry != null && !SameDirectory(full, entry.Path))
            throw new PbsException("DatastorePathMismatch", PbsErrorKind.InvalidArgument,
                $"datastore '{name}' is configured at \"{entry.Path}\", not at \"{full}\"", full);
        var dirName = System.IO.Path.GetFileName(full);
        name ??= entry?.Name ?? dirName;
        return new Datastore(full, name, entry, locking ?? LockScheme.Detect());
    }

    /// <summary>The same directory: the same path, or the same inode on the same device (a symlink, a bind mount).</summary>
    private static bool SameDirectory(string full, string configured)
    {
        if (System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(configured)) == full) return true;
        return Libc.TryStat(full, out var a) == 0 && Libc.TryStat(configured, out var b) == 0
               && a.Inode == b.Inode && a.DevMajor == b.DevMajor && a.DevMinor == b.DevMinor;
    }

    /// <summary>Opens a datastore by its configured name (datastore.cfg at <paramref name="configPath"/> or the default).</summary>
    public static Datastore OpenConfigured(string name, string? configPath = null)
    {
        var config = DatastoreConfig.Load(configPath);
        var entry = config.Get(name);
        return Open(entry.Path, entry.Name, config);
    }

    /// <summary>
    /// Throws DatastoreInMaintenance if the maintenance mode refuses the operation. Like PBS's lookup, this reads
    /// datastore.cfg now, so a mode set after this object was opened is honoured; an unreadable file falls back to
    /// the section read at open time. On an S3 store every change goes to the bucket as PBS 4.2 orders it (addendum
    /// §4.7), in the operation itself.
    /// </summary>
    public void CheckOperation(DatastoreOperation operation) => CurrentConfig()?.MaintenanceMode?.Check(Name, operation);

    private DatastoreConfigEntry? CurrentConfig()
    {
        if (Config is null || !File.Exists(PbsPaths.DatastoreConfigFile)) return Config;
        try { return DatastoreConfig.Load().TryGet(Config.Name) ?? Config; }
        catch (PbsException) { return Config; }
    }

    /// <summary>Absolute directory of a namespace.</summary>
    public string NamespacePath(BackupNamespace ns)
        => ns.IsRoot ? Path : System.IO.Path.Combine(Path, ns.RelativePath);

    public bool NamespaceExists(BackupNamespace ns) => ns.IsRoot || FileSystemEntries.IsDirectory(NamespacePath(ns));

    /// <summary>
    /// Namespaces from <paramref name="start"/> (default root), depth-first pre-order, start first, children
    /// by name. <paramref name="maxDepth"/> counts from the start (null: all, clamped to PBS's depth limit).
    /// A child directory that is not a valid namespace name is an error: thrown, or passed to
    /// <paramref name="onError"/> and skipped.
    /// </summary>
    public IEnumerable<BackupNamespace> ListNamespaces(BackupNamespace? start = null, int? maxDepth = null,
        Action<PbsException>? onError = null)
    {
        start ??= BackupNamespace.Root;
        if (!NamespaceExists(start))
            throw new PbsException("NamespaceNotFound", PbsErrorKind.ObjectNotFound,
                $"namespace '{start.Name}' does not exist in datastore '{Name}'", start.Name);
        var limit = Math.Min(maxDepth ?? int.MaxValue, PbsNames.MaxNamespaceDepth - start.Depth);
        return Walk(start, 0);

        IEnumerable<BackupNamespace> Walk(BackupNamespace ns, int depth)
        {
            yield return ns;
            if (depth >= limit) yield break;
            foreach (var child in ChildNamespaces(ns, onError))
                foreach (var n in Walk(child, depth + 1))
                    yield return n;
        }
    }

    private List<BackupNamespace> ChildNamespaces(BackupNamespace ns, Action<PbsException>? onError)
    {
        var dir = System.IO.Path.Combine(NamespacePath(ns), "ns");
        var result = new List<BackupNamespace>();
        foreach (var (name, kind) in FileSystemEntries.List(dir).OrderBy(e => e.Name, StringComparer.Ordinal))
        {
            if (kind != EntryKind.Directory) continue;
            try { result.Add(ns.Child(name)); }
            catch (PbsException e)
            {
                var error = new PbsException(e.ErrorId, PbsErrorKind.InvalidData,
                    $"invalid namespace directory \"{System.IO.Path.Combine(dir, name)}\" - {e.Message}",
                    System.IO.Path.Combine(dir, name), e);
                if (onError == null) throw error;
                onError(error);
            }
        }
        return result;
    }

    /// <summary>
    /// Groups of one namespace level in PBS's sort order: directories named exactly like a backup type, and in
    /// them directories matching the backup-ID regex (others are skipped silently, symlinks never followed).
    /// </summary>
    public IEnumerable<BackupGroup> ListGroups(BackupNamespace? ns = null)
    {
        ns ??= BackupNamespace.Root;
        var nsPath = NamespacePath(ns);
        var groups = new List<BackupGroup>();
        foreach (var type in BackupTypes.All)
        {
            var typeDir = System.IO.Path.Combine(nsPath, type.ToPbsString());
            if (!FileSystemEntries.IsDirectory(typeDir)) continue;
            foreach (var (name, kind) in FileSystemEntries.List(typeDir))
                if (kind == EntryKind.Directory && PbsNames.IsValidBackupId(name))
                    groups.Add(new BackupGroup(this, ns, type, name));
        }
        groups.Sort();
        return groups;
    }

    /// <summary>A group by name (validated; it need not exist).</summary>
    public BackupGroup Group(BackupNamespace ns, BackupType type, string id)
        => new(this, ns, type, PbsNames.ValidateBackupId(id));

    public override string ToString() => $"{Name} ({Path})";
}
