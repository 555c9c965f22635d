using System.Text;
using System.Text.RegularExpressions;
using PbsDatastore.Core.Native;
using PbsDatastore.Core.Store;

namespace PbsDatastore.Core.Maintenance;

/// <summary>An index file found by GC's walk: its path relative to the datastore (raw bytes, as on disk) and for display.</summary>
public sealed class IndexImage
{
    internal IndexImage(byte[] relativePath, string displayPath, bool strangePath)
    {
        RelativePathBytes = relativePath;
        RelativePath = displayPath;
        IsStrangePath = strangePath;
    }

    /// <summary>An index listed in the move journal (relative path), marked as PBS marks it: never a strange path.</summary>
    internal static IndexImage FromJournal(string relativePath) => new(Encoding.UTF8.GetBytes(relativePath), relativePath, strangePath: false);

    /// <summary>The path relative to the datastore root exactly as on disk (may be invalid UTF-8).</summary>
    internal byte[] RelativePathBytes { get; }

    /// <summary>The relative path for display (invalid UTF-8 replaced).</summary>
    public string RelativePath { get; }

    /// <summary>True when the parent directory is not <c>[&lt;ns path&gt;/]&lt;type&gt;/&lt;id&gt;/&lt;time&gt;</c> (§7.3).</summary>
    public bool IsStrangePath { get; }
}

/// <summary>
/// GC's <c>list_images</c> (§7.2): every <c>*.fidx</c>/<c>*.didx</c> anywhere below the datastore, not descending into
/// symlinks, skipping dot-named entries below (never at) the root, with PBS's error rules: permission denied aborts
/// except on <c>lost+found</c> directly in the root, vanished entries are ignored, other errors abort.
/// Works on raw names (getdents64/openat) so no file name can hide an index from the walk.
/// </summary>
public static class IndexImageWalk
{
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    private static readonly Regex SnapshotPath = new(
        @"\A(?:host|vm|ct)/[A-Za-z0-9_][A-Za-z0-9._\-]*/(?<y>[0-9]{4})-(?<mo>[0-9]{2})-(?<d>[0-9]{2})T(?<h>[0-9]{2}):(?<mi>[0-9]{2}):(?<s>[0-9]{2})Z\z",
        RegexOptions.CultureInvariant);

    private static readonly Regex SafeId = new(@"\A[A-Za-z0-9_][A-Za-z0-9._\-]*\z", RegexOptions.CultureInvariant);

    /// <summary>Lists the index files of the datastore at a path, outside datastore.cfg (tests).</summary>
    internal static IReadOnlyList<IndexImage> List(string storePath, ITaskState? state = null)
    {
        using var store = IndexPass.OpenStore(storePath);
        return List(store, state);
    }

    /// <summary>Lists the index files of the datastore in walk (directory) order.</summary>
    public static IReadOnlyList<IndexImage> List(IDatastoreBackend store, ITaskState? state = null)
    {
        var images = new List<IndexImage>();
        var errno = store.OpenRoot(out var root);
        if (errno != 0)
            throw errno == Libc.ENOENT || errno == Libc.ENOTDIR
                ? new PbsException("DatastoreNotFound", PbsErrorKind.ObjectNotFound, $"datastore path '{store.BasePath}' does not exist or is not a directory", store.BasePath)
                : TraversalError(store.BasePath, [], errno);
        using (root)
            Walk(store.BasePath, root!, depth: 1, images, state);
        return images;
    }

    private static void Walk(string storePath, IStoreDirectory dir, int depth, List<IndexImage> images, ITaskState? state)
    {
        state?.CheckAbort();
        var subdirs = new List<byte[]>();
        while (dir.MoveNext())
        {
            var name = dir.Name;
            // Hidden: PBS tests only names that are valid UTF-8; a leading '.' byte is always that.
            if (name[0] == (byte)'.') continue;
            var type = dir.Type;
            if (type == StoreEntryType.Unknown)
            {
                var errno = dir.Stat(out var st);
                if (errno == Libc.ENOENT) continue; // vanished meanwhile
                if (errno != 0)
                {
                    if (IsIgnoredLostFound(Join(dir.RelativePath, name), errno, depth)) continue;
                    throw TraversalError(storePath, Join(dir.RelativePath, name), errno, depth);
                }
                type = st.Type;
            }
            if (IsIndexName(name))
                images.Add(MakeImage(Join(dir.RelativePath, name)));
            if (type == StoreEntryType.Directory)
                subdirs.Add(name.ToArray());
        }
        if (dir.Errno != 0)
            throw TraversalError(storePath, dir.RelativePath.ToArray(), dir.Errno);
        // Subdirectories are opened by name once the listing is done (its buffer holds the current name only).
        foreach (var sub in subdirs)
        {
            var errno = dir.OpenDirectory(sub, out var child);
            if (errno != 0)
            {
                if (errno == Libc.ENOENT) continue; // vanished, e.g. a snapshot pruned meanwhile
                if (errno == Libc.ENOTDIR || errno == Libc.ELOOP) continue; // replaced by a file or symlink meanwhile
                if (IsIgnoredLostFound(Join(dir.RelativePath, sub), errno, depth)) continue;
                throw TraversalError(storePath, Join(dir.RelativePath, sub), errno, depth);
            }
            using (child)
                Walk(storePath, child!, depth + 1, images, state);
        }
    }

    /// <summary>The last extension is exactly <c>fidx</c> or <c>didx</c> (a leading dot is no extension).</summary>
    internal static bool IsIndexName(ReadOnlySpan<byte> name)
    {
        var dot = name.LastIndexOf((byte)'.');
        if (dot <= 0) return false;
        var ext = name[(dot + 1)..];
        return ext.SequenceEqual("fidx"u8) || ext.SequenceEqual("didx"u8);
    }

    private static IndexImage MakeImage(byte[] relativePath)
    {
        var display = Encoding.UTF8.GetString(relativePath);
        var slash = Array.LastIndexOf(relativePath, (byte)'/');
        var strange = false;
        if (slash < 0)
            strange = true; // directly in the root: the empty parent is no snapshot path
        else
        {
            try { strange = !IsSnapshotDirectory(StrictUtf8.GetString(relativePath, 0, slash)); }
            catch (DecoderFallbackException) { /* PBS does not count a parent that is not valid UTF-8 */ }
        }
        return new IndexImage(relativePath, display, strange);
    }

    /// <summary>
    /// Whether a directory path relative to the datastore parses as <c>[&lt;ns path&gt;/]&lt;type&gt;/&lt;id&gt;/&lt;time&gt;</c>
    /// the way PBS parses it (§1.5, §1.7): namespace part split at the third '/' from the right, at most 7 levels.
    /// </summary>
    public static bool IsSnapshotDirectory(string relativeDir)
    {
        var cut = -1;
        for (int i = relativeDir.Length - 1, slashes = 0; i >= 0; i--)
            if (relativeDir[i] == '/' && ++slashes == 3) { cut = i; break; }
        var nsPart = cut < 0 ? "" : relativeDir[..cut];
        var snapshotPart = cut < 0 ? relativeDir : relativeDir[(cut + 1)..];
        var m = SnapshotPath.Match(snapshotPart);
        if (!m.Success) return false;
        int F(string g) => int.Parse(m.Groups[g].ValueSpan, System.Globalization.CultureInfo.InvariantCulture);
        if (F("mo") > 12 || F("d") > 31 || F("h") > 23 || F("mi") > 59 || F("s") > 60) return false;
        return nsPart.Length == 0 || IsNamespacePath(nsPart);
    }

    private static bool IsNamespacePath(string path)
    {
        var depth = 0;
        var length = 0;
        var rest = path.AsSpan();
        while (rest.Length > 0)
        {
            if (!rest.StartsWith("ns/")) return false;
            rest = rest[3..];
            var slash = rest.IndexOf('/');
            var component = slash < 0 ? rest : rest[..slash];
            rest = slash < 0 ? default : rest[(slash + 1)..];
            if (!SafeId.IsMatch(component)) return false;
            if (++depth > 7) return false;
            if (length + component.Length + 1 > 256) return false;
            length += component.Length + (depth > 1 ? 1 : 0);
        }
        return depth > 0;
    }

    private static byte[] Join(ReadOnlySpan<byte> relative, ReadOnlySpan<byte> name)
    {
        var result = new byte[(relative.Length > 0 ? relative.Length + 1 : 0) + name.Length];
        relative.CopyTo(result);
        if (relative.Length > 0) result[relative.Length] = (byte)'/';
        name.CopyTo(result.AsSpan(result.Length - name.Length));
        return result;
    }

    /// <summary>Permission denied on <c>lost+found</c> directly in the root is the one walk error PBS ignores.</summary>
    private static bool IsIgnoredLostFound(byte[] relative, int errno, int depth)
        => (errno == Libc.EACCES || errno == Libc.EPERM) && depth <= 1 && relative.AsSpan().EndsWith("lost+found"u8);

    private static PbsException TraversalError(string storePath, byte[] relative, int errno, int depth = 0)
    {
        var path = relative.Length == 0 ? storePath : Path.Combine(storePath, Encoding.UTF8.GetString(relative));
        if (errno == Libc.EACCES || errno == Libc.EPERM)
            return new PbsException("GcTraversalPermissionDenied", PbsErrorKind.PermissionDenied,
                $"cannot continue garbage-collection safely, permission denied on: {RustDebug.Quote(path)}", path);
        return new PbsException("GcTraversalFailed", PbsErrorKind.ReadError,
            $"unexpected error on datastore traversal: {Libc.StrError(errno)} - {RustDebug.Quote(path)}", path);
    }
}
