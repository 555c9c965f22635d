using System.Runtime.InteropServices;

namespace PbsDatastore.Core.Native;

/// <summary>
/// Whole-file reads and truncation of small files PBS coordinates through flock (move journal, active-operations
/// file): through raw descriptors, because a .NET FileStream takes an flock of its own that would conflict.
/// </summary>
internal static partial class Libc
{
    /// <summary>truncate(2): empties a file in place, keeping its inode, owner and mode.</summary>
    [LibraryImport("libc", EntryPoint = "truncate", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Truncate(string path, long length);

    /// <summary>Reads the whole file; returns 0 and the content, or the errno (ENOENT: no such file).</summary>
    public static unsafe int ReadAllNoFlock(string path, out byte[] content)
    {
        content = [];
        var fd = Open(path, O_RDONLY | O_CLOEXEC, 0);
        if (fd < 0) return LastErrno;
        try
        {
            using var data = new MemoryStream();
            var buffer = new byte[64 * 1024];
            while (true)
            {
                nint n;
                fixed (byte* p = buffer) n = Read(fd, p, buffer.Length);
                if (n < 0 && LastErrno == EINTR) continue;
                if (n < 0) return LastErrno;
                if (n == 0) break;
                data.Write(buffer, 0, (int)n);
            }
            content = data.ToArray();
            return 0;
        }
        finally
        {
            Close(fd);
        }
    }
}
