using System.Security.Cryptography;
using PbsDatastore.Core.Native;

namespace PbsDatastore.Core;

/// <summary>
/// PBS's `replace_file` (pbs-datastore §12.1): write a temp file beside the target (last extension replaced by
/// `tmp_XXXXXX`), set the mode (0644 unless told otherwise, independent of umask), hand it to backup:backup when
/// running as root, optionally fsync, rename over the target; on failure the temp file is removed.
/// </summary>
public static class AtomicFile
{
    private const string TempAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    /// <summary>The mkstemp template PBS derives from a target: `index.json.blob` → `index.json.tmp_XXXXXX`.</summary>
    public static string TempPathFor(string path)
    {
        var dir = Path.GetDirectoryName(path) ?? "";
        var name = Path.GetFileName(path);
        var dot = name.LastIndexOf('.');
        // A name starting with its only dot (".gc-status") has no extension.
        var stem = dot > 0 ? name[..dot] : name;
        return Path.Combine(dir, $"{stem}.tmp_{RandomNumberGenerator.GetString(TempAlphabet, 6)}");
    }

    /// <summary>Creates a new temp file for <paramref name="target"/> (mode 0600 like mkstemp); returns fd and path.</summary>
    internal static (int Fd, string Path) CreateTemp(string target)
    {
        for (var attempt = 0; ; attempt++)
        {
            var tmp = TempPathFor(target);
            var fd = Libc.Open(tmp, Libc.O_RDWR | Libc.O_CREAT | Libc.O_EXCL | Libc.O_CLOEXEC, 0x180);
            if (fd >= 0) return (fd, tmp);
            var errno = Libc.LastErrno;
            if (errno == Libc.EEXIST && attempt < 100) continue;
            throw new PbsException("WriteFailed", errno == Libc.EACCES || errno == Libc.EPERM ? PbsErrorKind.PermissionDenied : PbsErrorKind.WriteError,
                $"unable to create temporary file \"{tmp}\" - {Libc.StrError(errno)}", target);
        }
    }

    /// <summary>Atomically replaces <paramref name="path"/> with <paramref name="data"/>.</summary>
    public static void Replace(string path, ReadOnlySpan<byte> data, uint mode = 0x1A4 /* 0644 */, bool fsync = false)
    {
        var (fd, tmp) = CreateTemp(path);
        var ok = false;
        try
        {
            if (Libc.Fchmod(fd, mode) != 0) Fail("fchmod failed", Libc.LastErrno);
            var errno = BackupUser.Apply(fd);
            if (errno != 0) Fail("fchown failed", errno);
            errno = Libc.WriteAll(fd, data);
            if (errno != 0) Fail("write failed", errno);
            if (fsync && Libc.Fsync(fd) != 0) Fail("fsync failed", Libc.LastErrno);
            if (Libc.Close(fd) != 0) { fd = -1; Fail("close failed", Libc.LastErrno); }
            fd = -1;
            if (Libc.Rename(tmp, path) != 0)
                throw new PbsException("WriteFailed", PbsErrorKind.WriteError,
                    $"Atomic rename failed for file \"{path}\" - {Libc.StrError(Libc.LastErrno)}", path);
            ok = true;
        }
        finally
        {
            if (fd >= 0) Libc.Close(fd);
            if (!ok) Libc.Unlink(tmp);
        }

        void Fail(string what, int errno)
            => throw new PbsException("WriteFailed", errno == Libc.EACCES || errno == Libc.EPERM ? PbsErrorKind.PermissionDenied : PbsErrorKind.WriteError,
                $"{what}: {Libc.StrError(errno)} (\"{path}\")", path);
    }
}
