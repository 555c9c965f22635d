using PbsDatastore.Core.Native;

namespace PbsDatastore.Core.Hierarchy;

/// <summary>
/// Recursive removal that never follows a symlink: a link (also one planted inside a snapshot or group pointing
/// out of the store) is unlinked, its target left alone. Errors carry the path and errno text.
/// </summary>
internal static class TreeRemoval
{
    /// <summary>Removes <paramref name="path"/> and everything below it; a missing path is fine.</summary>
    public static void Remove(string path)
    {
        var kind = FileSystemEntries.KindOf(path);
        if (kind == EntryKind.Missing) return;
        if (kind == EntryKind.Directory)
        {
            foreach (var (name, _) in FileSystemEntries.List(path))
                Remove(Path.Combine(path, name));
            Check(Libc.Rmdir(path), path);
        }
        else Check(Libc.Unlink(path), path);
    }

    /// <summary>Unlinks a file (not a directory); a missing one is fine.</summary>
    public static void UnlinkFile(string path) => Check(Libc.Unlink(path), path);

    private static void Check(int rc, string path)
    {
        if (rc == 0) return;
        var errno = Libc.LastErrno;
        if (errno == Libc.ENOENT) return;
        throw new IOException($"{Libc.StrError(errno)} (\"{path}\")", errno);
    }
}
