using System.Text;
using PbsDatastore.Core.Native;

namespace PbsDatastore.Core.Hierarchy;

/// <summary>A backup group `&lt;type&gt;/&lt;id&gt;` in a namespace of a datastore. Sorts in PBS's group order.</summary>
public sealed partial class BackupGroup : IEquatable<BackupGroup>, IComparable<BackupGroup>
{
    public const string OwnerFileName = "owner";
    public const string NotesFileName = "notes";

    internal BackupGroup(Datastore store, BackupNamespace ns, BackupType type, string id)
    {
        Datastore = store;
        Namespace = ns;
        Type = type;
        Id = id;
    }

    public Datastore Datastore { get; }
    public BackupNamespace Namespace { get; }
    public BackupType Type { get; }
    public string Id { get; }

    /// <summary>`&lt;type&gt;/&lt;id&gt;`, the group's name inside its namespace.</summary>
    public string GroupName => $"{Type.ToPbsString()}/{Id}";

    /// <summary>Path relative to the datastore root, e.g. `ns/prod/vm/101`.</summary>
    public string RelativePath => Namespace.IsRoot ? GroupName : $"{Namespace.RelativePath}/{GroupName}";

    public string FullPath => Path.Combine(Datastore.Path, RelativePath);

    public string OwnerPath => Path.Combine(FullPath, OwnerFileName);

    public string NotesPath => Path.Combine(FullPath, NotesFileName);

    public bool Exists => FileSystemEntries.IsDirectory(FullPath);

    /// <summary>
    /// Snapshot directories sorted by time: directories (never through symlinks) whose name matches the time
    /// regex. A name that matches but fails PBS's parser makes PBS's listing fail: thrown, or passed to
    /// <paramref name="onError"/> and skipped.
    /// </summary>
    public IEnumerable<BackupSnapshot> ListSnapshots(Action<PbsException>? onError = null)
    {
        var result = new List<BackupSnapshot>();
        foreach (var (name, kind) in FileSystemEntries.List(FullPath))
        {
            if (kind != EntryKind.Directory || !PbsNames.BackupTime().IsMatch(name)) continue;
            if (!BackupTime.TryParse(name, out var time))
            {
                var error = new PbsException("InvalidBackupTime", PbsErrorKind.InvalidData,
                    $"invalid snapshot directory \"{Path.Combine(FullPath, name)}\" - failed to parse rfc3339 timestamp (\"{name}\")",
                    Path.Combine(FullPath, name));
                if (onError == null) throw error;
                onError(error);
                continue;
            }
            result.Add(new BackupSnapshot(this, time, name));
        }
        result.Sort((a, b) => a.Time != b.Time ? a.Time.CompareTo(b.Time) : string.CompareOrdinal(a.DirectoryName, b.DirectoryName));
        return result;
    }

    /// <summary>The snapshot of this group at <paramref name="time"/> (canonical directory name; need not exist).</summary>
    public BackupSnapshot Snapshot(long time) => new(this, time, BackupTime.Format(time));

    /// <summary>The snapshot with directory name <paramref name="timeString"/> (parsed with PBS's rules).</summary>
    public BackupSnapshot Snapshot(string timeString)
    {
        if (!PbsNames.BackupTime().IsMatch(timeString ?? ""))
            throw new PbsException("InvalidBackupTime", PbsErrorKind.InvalidArgument,
                $"invalid snapshot time {PbsNames.Quote(timeString)} - expected YYYY-MM-DDTHH:MM:SSZ", timeString);
        return new BackupSnapshot(this, BackupTime.Parse(timeString), timeString!);
    }

    /// <summary>
    /// The owner as PBS reads it: first line, trailing whitespace stripped, parsed as Auth-ID. Null when the
    /// group has no owner file; InvalidOwner when it cannot be parsed.
    /// </summary>
    public Authid? ReadOwner()
    {
        var text = ReadTextFile(OwnerPath, "owner");
        if (text == null) return null;
        var nl = text.IndexOf('\n');
        var first = (nl < 0 ? text : text[..(nl + 1)]).TrimEnd();
        if (!Authid.TryParse(first, out var owner))
            throw new PbsException("InvalidOwner", PbsErrorKind.InvalidData,
                $"parsing owner for {GroupName} failed: invalid auth id {PbsNames.Quote(first)}", OwnerPath);
        return owner;
    }

    /// <summary>The group's notes file verbatim, or null if there is none.</summary>
    public string? ReadNotes() => ReadTextFile(NotesPath, "notes");

    /// <summary>Time of the newest snapshot whose manifest exists (PBS's "last successful backup"), or null.</summary>
    public long? LastSuccessfulBackup()
    {
        long? last = null;
        foreach (var (name, kind) in FileSystemEntries.List(FullPath))
        {
            if (kind != EntryKind.Directory || !PbsNames.BackupTime().IsMatch(name) || !BackupTime.TryParse(name, out var t))
                continue;
            if (last is long l && t <= l) continue;
            var manifest = Path.Combine(FullPath, name, BackupSnapshot.ManifestFileName);
            var errno = Libc.TryStat(manifest, out _);
            if (errno == Libc.ENOENT) continue;
            if (errno != 0)
                throw new PbsException("ReadFailed", PbsErrorKind.ReadError,
                    $"unable to open manifest \"{manifest}\" - {Libc.StrError(errno)}", manifest);
            last = t;
        }
        return last;
    }

    private static string? ReadTextFile(string path, string what)
    {
        try
        {
            // Never through a symlink: a planted link must not make us read (and show) a file outside the store.
            switch (FileSystemEntries.KindOf(path))
            {
                case EntryKind.Missing: return null;
                case EntryKind.RegularFile: break;
                default:
                    throw new PbsException("InvalidData", PbsErrorKind.InvalidData, $"{what} file \"{path}\" is not a regular file", path);
            }
            return File.ReadAllText(path, new UTF8Encoding(false, true));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return null; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or DecoderFallbackException)
        {
            throw new PbsException("ReadFailed", e is UnauthorizedAccessException ? PbsErrorKind.PermissionDenied : PbsErrorKind.ReadError,
                $"unable to read {what} file \"{path}\" - {e.Message}", path, e);
        }
    }

    public bool Equals(BackupGroup? other)
        => other is not null && Datastore.Path == other.Datastore.Path && Namespace == other.Namespace && Type == other.Type && Id == other.Id;
    public override bool Equals(object? obj) => Equals(obj as BackupGroup);
    public override int GetHashCode() => HashCode.Combine(Datastore.Path, Namespace, Type, Id);

    /// <summary>PBS's order: namespace, type (ct &lt; host &lt; vm), then numeric IDs before others, numerically.</summary>
    public int CompareTo(BackupGroup? other)
    {
        if (other is null) return 1;
        var c = Namespace.CompareTo(other.Namespace);
        if (c != 0) return c;
        c = Type.CompareTo(other.Type);
        return c != 0 ? c : CompareIds(Id, other.Id);
    }

    public static int CompareIds(string a, string b)
    {
        var an = ulong.TryParse(a, System.Globalization.NumberStyles.None, null, out var x);
        var bn = ulong.TryParse(b, System.Globalization.NumberStyles.None, null, out var y);
        if (an && bn) return x.CompareTo(y);
        if (an) return -1;
        if (bn) return 1;
        return string.CompareOrdinal(a, b);
    }

    public override string ToString() => Namespace.IsRoot ? GroupName : $"{Namespace.Name}:{GroupName}";
}
