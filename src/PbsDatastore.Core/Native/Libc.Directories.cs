using System.Runtime.InteropServices;

namespace PbsDatastore.Core.Native;

/// <summary>
/// Byte-path variants of the calls GC makes once per chunk or per directory entry. Paths are NUL-terminated byte
/// strings relative to a directory descriptor, so the hot loops allocate nothing and names that are not valid
/// UTF-8 stay reachable.
/// </summary>
internal static unsafe partial class Libc
{
    public const int AT_REMOVEDIR = 0x200;
    public const int ELOOP = 40, ENOSPC = 28, EFBIG = 27, EIO = 5, EROFS = 30;
    /// <summary>Same value on x86-64 and arm64.</summary>
    public const int O_NOATIME = 0x40000;
    /// <summary>Same value on x86-64 and arm64.</summary>
    public const int O_NONBLOCK = 0x800;
    public const byte DT_UNKNOWN = 0, DT_DIR = 4, DT_REG = 8, DT_LNK = 10;

    [LibraryImport("libc", EntryPoint = "openat", SetLastError = true)]
    public static partial int OpenAt(int dirfd, byte* path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true)]
    public static partial int StatxAt(int dirfd, byte* path, int flags, uint mask, Statx* buffer);

    [LibraryImport("libc", EntryPoint = "utimensat", SetLastError = true)]
    public static partial int UtimensatAt(int dirfd, byte* path, Timespec* times, int flags);

    [LibraryImport("libc", EntryPoint = "unlinkat", SetLastError = true)]
    public static partial int UnlinkAt(int dirfd, byte* path, int flags);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, byte* buffer, nint count);

    /// <summary>Sets atime to now, leaves mtime, does not follow a final symlink; returns errno (0 on success).</summary>
    public static int TouchAtimeAt(int dirfd, byte* path)
    {
        Timespec* times = stackalloc Timespec[2];
        times[0] = new Timespec { Seconds = 0, Nanoseconds = UTIME_NOW };
        times[1] = new Timespec { Seconds = 0, Nanoseconds = UTIME_OMIT };
        return UtimensatAt(dirfd, path, times, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : LastErrno;
    }

    /// <summary>Opens a directory below <paramref name="dirfd"/> without following a final symlink; fd or -errno.</summary>
    public static int OpenDirectoryAt(int dirfd, byte* name)
        => OpenReadNoAtime(dirfd, name, O_DIRECTORY | O_NOFOLLOW);

    /// <summary>
    /// Opens for reading without updating the access time where allowed (owner or CAP_FOWNER), so reading indexes
    /// and listing directories leaves every atime as it was; fd or -errno.
    /// </summary>
    public static int OpenReadNoAtime(int dirfd, byte* path, int extraFlags)
    {
        var flags = O_RDONLY | O_CLOEXEC | O_NOATIME | extraFlags;
        while (true)
        {
            var fd = OpenAt(dirfd, path, flags, 0);
            if (fd >= 0) return fd;
            var errno = LastErrno;
            if (errno == EPERM && (flags & O_NOATIME) != 0) { flags &= ~O_NOATIME; continue; }
            if (errno != EINTR) return -errno;
        }
    }
}
