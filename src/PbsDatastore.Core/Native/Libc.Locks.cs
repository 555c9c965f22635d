using System.Runtime.InteropServices;

namespace PbsDatastore.Core.Native;

/// <summary>Calls for PBS's lock files, directory locks and atomic file replacement: renames, unlink, fchmod/fchown, user lookup.</summary>
internal static partial class Libc
{
    public const int AT_EMPTY_PATH = 0x1000;
    public const uint RENAME_NOREPLACE = 1;
    public const int O_APPEND = 0x400;
    public const int EINVAL = 22, ENOTEMPTY = 39, EISDIR = 21, ELOOP = 40, ENOSYS = 38;

    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Renameat2(int olddirfd, string oldpath, int newdirfd, string newpath, uint flags);

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Link(string oldpath, string newpath);

    [LibraryImport("libc", EntryPoint = "rename", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Rename(string oldpath, string newpath);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Unlink(string path);

    [LibraryImport("libc", EntryPoint = "rmdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Rmdir(string path);

    [LibraryImport("libc", EntryPoint = "fchmod", SetLastError = true)]
    public static partial int Fchmod(int fd, uint mode);

    [LibraryImport("libc", EntryPoint = "fchown", SetLastError = true)]
    public static partial int Fchown(int fd, uint uid, uint gid);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static unsafe partial nint Write(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    public static partial int Ftruncate(int fd, long length);

    [LibraryImport("libc", EntryPoint = "getpwnam", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr GetpwnamRaw(string name);

    [LibraryImport("libc", EntryPoint = "getgrnam", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr GetgrnamRaw(string name);

    /// <summary>uid of a user name, or null. struct passwd on 64-bit glibc: two pointers, then uid and gid.</summary>
    public static uint? UserId(string name)
    {
        var p = GetpwnamRaw(name);
        return p == IntPtr.Zero ? null : (uint)Marshal.ReadInt32(p, 2 * IntPtr.Size);
    }

    /// <summary>gid of a group name, or null. struct group: two pointers, then gid.</summary>
    public static uint? GroupId(string name)
    {
        var p = GetgrnamRaw(name);
        return p == IntPtr.Zero ? null : (uint)Marshal.ReadInt32(p, 2 * IntPtr.Size);
    }

    /// <summary>statx of an open descriptor (fstat); returns errno (0 on success).</summary>
    public static int TryFstat(int fd, out Statx st)
        => StatxCall(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, out st) == 0 ? 0 : LastErrno;

    /// <summary>Writes the whole buffer; returns errno (0 on success).</summary>
    public static unsafe int WriteAll(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* start = data)
        {
            var done = 0;
            while (done < data.Length)
            {
                var n = Write(fd, start + done, data.Length - done);
                if (n < 0)
                {
                    var errno = LastErrno;
                    if (errno == EINTR) continue;
                    return errno;
                }
                done += (int)n;
            }
        }
        return 0;
    }
}
