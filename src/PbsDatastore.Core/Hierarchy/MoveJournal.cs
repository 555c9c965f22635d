using System.Text;
using PbsDatastore.Core.Locking;
using PbsDatastore.Core.Native;

namespace PbsDatastore.Core.Hierarchy;

/// <summary>
/// PBS ≥ 4.1.9's move journal (addendum §5.3): <c>&lt;lock root&gt;/&lt;store&gt;/move-journal</c>, one absolute index
/// path per line, appended by a group or namespace move before it renames a snapshot. A GC marks every index it
/// lists at the end of phase 1 and then empties it, holding its exclusive flock (10 s timeout) throughout, so a
/// snapshot moved behind the walk's back is still marked. Read raw, never through FileStream, whose implicit flock
/// would conflict with that lock. A move appends through <see cref="Append"/> (the writer side).
/// </summary>
internal sealed class MoveJournal : IDisposable
{
    public static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(10);

    private readonly FlockHandle? _lock;

    private MoveJournal(string path, FlockHandle? held, IReadOnlyList<string> indexPaths)
    {
        Path = path;
        _lock = held;
        IndexPaths = indexPaths;
    }

    public string Path { get; }

    /// <summary>The listed index files, as paths relative to the datastore where they lie below it, else absolute.</summary>
    public IReadOnlyList<string> IndexPaths { get; }

    public static string PathFor(string store) => System.IO.Path.Combine(LockPaths.StoreLockDir(store), "move-journal");

    /// <summary>
    /// Locks and reads the journal of the datastore configured as <paramref name="store"/>; null when there is none
    /// (a move creates it before its first rename, so a journal missing now hides no move the walk could have missed).
    /// <paramref name="readOnly"/> (dry run): read without locking; the journal is then never emptied.
    /// </summary>
    public static MoveJournal? Open(string store, string storePath, bool readOnly)
    {
        var path = PathFor(store);
        if (!File.Exists(path)) return null;
        var held = readOnly ? null : FileLocks.LockFile(path, exclusive: true, LockTimeout, "move journal lock");
        try
        {
            return new MoveJournal(path, held, Parse(ReadAll(path), storePath));
        }
        catch
        {
            held?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The writer side, as PBS's move does before each snapshot rename: the absolute paths of the index files the
    /// snapshot will have after the move, one line each, appended in one write under the journal's exclusive flock
    /// (10 s timeout; the file is created 0660 backup:backup like a lock file). No line may contain a newline.
    /// </summary>
    public static void Append(string store, IReadOnlyCollection<string> absolutePaths)
    {
        if (absolutePaths.Count == 0) return;
        var text = new StringBuilder();
        foreach (var p in absolutePaths)
        {
            if (p.Contains('\n') || !System.IO.Path.IsPathRooted(p))
                throw new PbsException("MoveJournalFailed", PbsErrorKind.InvalidArgument,
                    $"refusing to journal index path {PbsNames.Quote(p)} - must be absolute and without newlines", p);
            text.Append(p).Append('\n');
        }
        var path = PathFor(store);
        using var held = FileLocks.LockFile(path, exclusive: true, LockTimeout, "move journal lock");
        var errno = held.Append(Encoding.UTF8.GetBytes(text.ToString()));
        if (errno != 0)
            throw new PbsException("MoveJournalFailed", PbsErrorKind.WriteError,
                $"unable to append to move journal \"{path}\" - {Libc.StrError(errno)}", path);
    }

    /// <summary>Empties the journal; only while it is locked and after every entry was marked.</summary>
    public void Truncate()
    {
        if (_lock is null) return;
        if (Libc.Truncate(Path, 0) != 0)
        {
            var errno = Libc.LastErrno;
            throw new PbsException("GcMoveJournalFailed", PbsErrorKind.WriteError,
                $"unable to truncate move journal \"{Path}\" - {Libc.StrError(errno)}", Path);
        }
    }

    public void Dispose() => _lock?.Dispose();

    internal static IReadOnlyList<string> Parse(byte[] content, string storePath)
    {
        var root = System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(storePath)) + "/";
        var images = new List<string>();
        foreach (var raw in Encoding.UTF8.GetString(content).Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0) continue;
            var relative = line.StartsWith(root, StringComparison.Ordinal) ? line[root.Length..] : line;
            images.Add(relative);
        }
        return images;
    }

    private static byte[] ReadAll(string path)
    {
        var errno = Libc.ReadAllNoFlock(path, out var content);
        if (errno != 0)
            throw new PbsException("GcMoveJournalFailed", PbsErrorKind.ReadError,
                $"unable to read move journal \"{path}\" - {Libc.StrError(errno)}", path);
        return content;
    }
}
