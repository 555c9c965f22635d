using System.Runtime.InteropServices;

namespace PbsDatastore.Core.Native;

/// <summary>Calls for PBS's lock files and the hierarchy: no-replace rename, link, rmdir, fstat by descriptor.</summary>
internal static partial class Libc
{
    public const int AT_EMPTY_PATH = 0x1000;
    public const uint RENAME_NOREPLACE = 1;
    public const int O_APPEND = 0x400, O_TRUNC = 0x200;
    public const int EINVAL = 22, ENOTEMPTY = 39, ENOSYS = 38;

    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Renameat2(int olddirfd, string oldpath, int newdirfd, string newpath, uint flags);

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Link(string oldpath, string newpath);

    [LibraryImport("libc", EntryPoint = "rmdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Rmdir(string path);

    /// <summary>statx of an open descriptor (fstat); returns errno (0 on success).</summary>
    public static int TryFstat(int fd, out Statx st)
        => StatxCall(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, out st) == 0 ? 0 : LastErrno;
}
