using System.Security.Cryptography;
using PbsDatastore.Core.Native;

namespace PbsDatastore.Core;

/// <summary>
/// PBS's atomic file replacement (`replace_file`): write a `tmp_XXXXXX` sibling, set mode (and owner) on the
/// descriptor, optionally fsync, rename over the target; the temp file is removed on failure.
/// </summary>
public static class AtomicFile
{
    public const uint DefaultMode = 0x1A4; // 0644, independent of umask

    private const string TempChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    /// <summary>
    /// Replaces <paramref name="path"/> with <paramref name="data"/>. <paramref name="owner"/> null means no chown
    /// (the file belongs to this process), as PBS does unless an owner is requested.
    /// </summary>
    public static void Replace(string path, ReadOnlySpan<byte> data, uint mode = DefaultMode, (uint Uid, uint Gid)? owner = null, bool fsync = false)
    {
        var (fd, temp) = CreateTemp(path);
        var renamed = false;
        try
        {
            if (Libc.Fchmod(fd, mode) != 0) throw WriteError(path, "fchmod failed", Libc.LastErrno);
            if (owner is var (uid, gid) && Libc.Fchown(fd, uid, gid) != 0) throw WriteError(path, "fchown failed", Libc.LastErrno);
            var errno = Libc.WriteAll(fd, data);
            if (errno != 0) throw WriteError(path, "write failed", errno);
            if (fsync && Libc.Fsync(fd) != 0) throw WriteError(path, "fsync failed", Libc.LastErrno);
            if (Libc.Rename(temp, path) != 0)
                throw WriteError(path, $"Atomic rename failed for file \"{path}\"", Libc.LastErrno);
            renamed = true;
        }
        finally
        {
            Libc.Close(fd);
            if (!renamed) Libc.Unlink(temp);
        }
    }

    /// <summary>
    /// PBS's temp name for <paramref name="path"/>: the last extension replaced by `tmp_` and six random
    /// characters, created exclusively with mode 0600 (mkstemp). Returns the open descriptor and the name.
    /// </summary>
    private static (int Fd, string Path) CreateTemp(string path)
    {
        Span<char> suffix = stackalloc char[10];
        "tmp_".CopyTo(suffix);
        for (var attempt = 0; ; attempt++)
        {
            for (var i = 4; i < suffix.Length; i++) suffix[i] = TempChars[RandomNumberGenerator.GetInt32(TempChars.Length)];
            var temp = WithExtension(path, suffix.ToString());
            var fd = Libc.Open(temp, Libc.O_RDWR | Libc.O_CREAT | Libc.O_EXCL | Libc.O_CLOEXEC, 0x180);
            if (fd >= 0) return (fd, temp);
            var errno = Libc.LastErrno;
            if (errno != Libc.EEXIST || attempt > 100) throw WriteError(path, $"unable to create temporary file \"{temp}\"", errno);
        }
    }

    /// <summary>
    /// Rust's `Path::set_extension`: replaces the part after the last dot of the file name, or appends
    /// `.extension` when there is none (a name starting with its only dot, like `.gc-status`, has none).
    /// </summary>
    public static string WithExtension(string path, string extension)
    {
        var nameStart = path.LastIndexOf('/') + 1;
        var dot = path.LastIndexOf('.');
        var stemEnd = dot > nameStart ? dot : path.Length;
        return string.Concat(path.AsSpan(0, stemEnd), ".", extension);
    }

    private static PbsException WriteError(string path, string what, int errno)
        => new("FileWriteFailed", errno is Libc.EACCES or Libc.EPERM ? PbsErrorKind.PermissionDenied : PbsErrorKind.WriteError,
            $"{what}: {Libc.StrError(errno)}", path);
}
