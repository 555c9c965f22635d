using System.Runtime.InteropServices;

namespace PbsDatastore.Core.Native;

/// <summary>File and directory calls for the chunk store: raw directory reads (exact byte names, no stat per
/// entry) and the pieces of PBS's atomic replace (mode and owner set on the descriptor before the rename).</summary>
internal static partial class Libc
{
    [LibraryImport("libc", EntryPoint = "getdents64", SetLastError = true)]
    public static unsafe partial nint GetDents64(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static unsafe partial nint Write(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "fchmod", SetLastError = true)]
    public static partial int Fchmod(int fd, uint mode);

    [LibraryImport("libc", EntryPoint = "fchown", SetLastError = true)]
    public static partial int Fchown(int fd, uint uid, uint gid);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "rename", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Rename(string oldPath, string newPath);

    [LibraryImport("libc", EntryPoint = "unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Unlink(string path);

    [LibraryImport("libc", EntryPoint = "mkdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Mkdir(string path, uint mode);

    /// <summary>Writes all of <paramref name="data"/>, retrying short writes and EINTR; returns errno (0 on success).</summary>
    public static unsafe int WriteAll(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            var done = 0;
            while (done < data.Length)
            {
                var n = Write(fd, p + done, data.Length - done);
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
