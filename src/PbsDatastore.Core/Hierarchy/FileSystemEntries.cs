using PbsDatastore.Core.Native;

namespace PbsDatastore.Core.Hierarchy;

internal enum EntryKind { Missing, Directory, RegularFile, Symlink, Other }

/// <summary>
/// Directory listing as PBS's hierarchy iterators see it: entry kinds by lstat, so symlinks are never followed.
/// A missing directory lists as empty; other failures become ReadError PbsExceptions.
/// </summary>
internal static class FileSystemEntries
{
    public static List<(string Name, EntryKind Kind)> List(string dir)
    {
        var result = new List<(string, EntryKind)>();
        IEnumerable<string> names;
        try
        {
            names = Directory.EnumerateFileSystemEntries(dir).Select(p => Path.GetFileName(p)).ToList();
        }
        catch (DirectoryNotFoundException) { return result; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PbsException("ReadDirectoryFailed", e is UnauthorizedAccessException ? PbsErrorKind.PermissionDenied : PbsErrorKind.ReadError,
                $"unable to read directory \"{dir}\" - {e.Message}", dir, e);
        }
        foreach (var name in names)
            result.Add((name, KindOf(Path.Combine(dir, name))));
        return result;
    }

    public static EntryKind KindOf(string path)
    {
        var errno = Libc.TryLstat(path, out var st);
        if (errno == Libc.ENOENT || errno == Libc.ENOTDIR) return EntryKind.Missing;
        if (errno != 0) return EntryKind.Other;
        return st.IsDirectory ? EntryKind.Directory : st.IsRegularFile ? EntryKind.RegularFile
            : st.IsSymlink ? EntryKind.Symlink : EntryKind.Other;
    }

    /// <summary>True if the path exists as a directory itself (not through a symlink).</summary>
    public static bool IsDirectory(string path) => KindOf(path) == EntryKind.Directory;
}
