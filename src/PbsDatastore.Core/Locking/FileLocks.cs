using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using PbsDatastore.Core.Native;

namespace PbsDatastore.Core.Locking;

/// <summary>One held BSD flock: a directory lock or a lock file. Released when disposed (its descriptor closed).</summary>
public sealed class FlockHandle : IDisposable
{
    private int _fd;

    internal FlockHandle(int fd, string path, bool isLockFile)
    {
        _fd = fd;
        Path = path;
        IsLockFile = isLockFile;
    }

    public string Path { get; }

    /// <summary>True for a lock file (may be unlinked while held), false for a directory lock.</summary>
    public bool IsLockFile { get; }

    public bool IsHeld => _fd >= 0;

    /// <summary>Unlinks the lock file while the lock is still held (PBS's rule: never unlink a lock you do not hold).</summary>
    public void UnlinkWhileHeld()
    {
        if (IsLockFile && IsHeld) Libc.Unlink(Path);
    }

    /// <summary>Writes <paramref name="data"/> through the held descriptor (opened O_APPEND) in one call; returns errno or 0.</summary>
    internal int Append(ReadOnlySpan<byte> data) => Libc.WriteAll(_fd, data);

    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0) Libc.Close(fd);
    }

    public override string ToString() => Path;
}

/// <summary>
/// PBS's lock primitives over raw open/flock (never FileStream, whose implicit flock would block PBS):
/// directory locks (`lock_dir_noblock`, pbs-datastore §6.2) and lock files (`open_backup_lockfile`, §6.3,
/// created 0660 backup:backup with a no-replace rename, plus the 3.3.5+ inode re-check of the addendum §1.7).
/// A busy lock becomes a LockBusy PbsException that names the lock and, where /proc/locks tells, its holder.
/// </summary>
public static class FileLocks
{
    private const int DoubleStatAttempts = 3;

    /// <summary>
    /// Non-blocking flock on a directory. <paramref name="what"/> is PBS's object word (`snapshot`, `backup group`),
    /// <paramref name="wouldBlock"/> PBS's message for a busy lock.
    /// </summary>
    public static FlockHandle LockDirectory(string dir, bool exclusive, string what, string wouldBlock)
    {
        var fd = Libc.Open(dir, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        if (fd < 0)
        {
            var errno = Libc.LastErrno;
            throw new PbsException(errno == Libc.ENOENT ? "ObjectNotFound" : "LockFailed",
                errno == Libc.ENOENT ? PbsErrorKind.ObjectNotFound : KindOf(errno),
                $"unable to open {what} directory \"{dir}\" for locking - {Libc.StrError(errno)}", dir);
        }
        var op = (exclusive ? Libc.LOCK_EX : Libc.LOCK_SH) | Libc.LOCK_NB;
        int rc;
        while ((rc = Libc.FlockCall(fd, op)) != 0 && Libc.LastErrno == Libc.EINTR) { }
        if (rc != 0)
        {
            var errno = Libc.LastErrno;
            var holder = errno == Libc.EWOULDBLOCK ? DescribeHolder(fd) : "";
            Libc.Close(fd);
            if (errno == Libc.EWOULDBLOCK)
                throw new PbsException("LockBusy", PbsErrorKind.ResourceBusy,
                    $"unable to acquire lock on {what} directory \"{dir}\" - {wouldBlock}{holder}", dir);
            throw new PbsException("LockFailed", KindOf(errno),
                $"unable to acquire lock on {what} directory \"{dir}\" - {Libc.StrError(errno)}", dir);
        }
        return new FlockHandle(fd, dir, isLockFile: false);
    }

    /// <summary>
    /// Opens (creating it the PBS way if missing) and flocks a lock file, waiting up to <paramref name="timeout"/>
    /// (zero: one non-blocking attempt), then checks that the path still names the locked inode.
    /// <paramref name="what"/> prefixes errors as PBS does (`manifest lock`, `snapshot lock`, …).
    /// </summary>
    public static FlockHandle LockFile(string path, bool exclusive, TimeSpan timeout, string what)
    {
        var deadline = Stopwatch.StartNew();
        for (var attempt = 1; ; attempt++)
        {
            var fd = OpenOrCreate(path, what);
            var errno = FlockWithTimeout(fd, exclusive, timeout - deadline.Elapsed);
            if (errno != 0)
            {
                var holder = errno == Libc.EWOULDBLOCK ? DescribeHolder(fd) : "";
                Libc.Close(fd);
                if (errno == Libc.EWOULDBLOCK)
                    throw new PbsException("LockBusy", PbsErrorKind.ResourceBusy,
                        $"unable to acquire {what} \"{path}\" - Unable to acquire lock \"{path}\" - {(timeout > TimeSpan.Zero ? $"timed out after {timeout.TotalSeconds:0.#} s" : Libc.StrError(errno))}{holder}",
                        path);
                throw new PbsException("LockFailed", KindOf(errno),
                    $"unable to acquire {what} \"{path}\" - Unable to acquire lock \"{path}\" - {Libc.StrError(errno)}", path);
            }
            // A holder may have unlinked the file while we waited: then our lock protects nothing.
            if (Libc.TryFstat(fd, out var held) == 0 && Libc.TryStat(path, out var now) == 0 && held.Inode == now.Inode)
                return new FlockHandle(fd, path, isLockFile: true);
            Libc.Close(fd);
            if (attempt >= DoubleStatAttempts)
                throw new PbsException("LockBusy", PbsErrorKind.ResourceBusy,
                    $"unable to acquire {what} \"{path}\" - could not acquire lock, another thread modified the lock file", path);
        }
    }

    private static int FlockWithTimeout(int fd, bool exclusive, TimeSpan remaining)
    {
        var op = (exclusive ? Libc.LOCK_EX : Libc.LOCK_SH) | Libc.LOCK_NB;
        var until = Stopwatch.GetTimestamp() + (long)(Math.Max(0, remaining.TotalSeconds) * Stopwatch.Frequency);
        for (; ; )
        {
            if (Libc.FlockCall(fd, op) == 0) return 0;
            var errno = Libc.LastErrno;
            if (errno == Libc.EINTR) continue;
            if (errno != Libc.EWOULDBLOCK || Stopwatch.GetTimestamp() >= until) return errno;
            Thread.Sleep(10);
        }
    }

    /// <summary>
    /// `O_RDWR|O_APPEND|O_CLOEXEC` without create; on ENOENT create it atomically: parent directories (mkdir -p),
    /// temp file 0660 owned by backup:backup (when root), renamed into place without replacing a file another
    /// process created meanwhile (whose file is then opened instead).
    /// </summary>
    private static int OpenOrCreate(string path, string what)
    {
        const int flags = Libc.O_RDWR | Libc.O_APPEND | Libc.O_CLOEXEC;
        for (var attempt = 0; attempt < 10; attempt++)
        {
            var fd = Libc.Open(path, flags, 0);
            if (fd >= 0) return fd;
            var errno = Libc.LastErrno;
            if (errno != Libc.ENOENT) throw OpenError(path, what, errno);

            LockDirectories.Create(Path.GetDirectoryName(path)!);
            var (tmpFd, tmp) = CreateTemp(path, what);
            bool placed = false, renamed = false;
            try
            {
                if (Libc.Fchmod(tmpFd, 0x1B0 /* 0660 */) != 0) throw OpenError(path, what, Libc.LastErrno);
                if (BackupOwner.ForNewFiles() is var (uid, gid) && Libc.Fchown(tmpFd, uid, gid) != 0)
                    throw OpenError(path, what, Libc.LastErrno);
                errno = Libc.Renameat2(Libc.AT_FDCWD, tmp, Libc.AT_FDCWD, path, Libc.RENAME_NOREPLACE) == 0 ? 0 : Libc.LastErrno;
                renamed = errno == 0;
                // File systems without RENAME_NOREPLACE: link() refuses an existing target just the same.
                if (errno == Libc.EINVAL || errno == Libc.ENOSYS)
                    errno = Libc.Link(tmp, path) == 0 ? 0 : Libc.LastErrno;
                if (errno != 0 && errno != Libc.EEXIST) throw OpenError(path, what, errno);
                placed = errno == 0;
            }
            finally
            {
                if (!placed) Libc.Close(tmpFd);
                if (!renamed) Libc.Unlink(tmp); // after link() or a lost race the temp name goes
            }
            // Lock files are never written, so the temp descriptor's missing O_APPEND does not matter.
            if (placed) return tmpFd;
            // EEXIST: another process created it first; loop and open theirs.
        }
        throw new PbsException("LockFailed", PbsErrorKind.WriteError, $"unable to create {what} file \"{path}\" - it keeps vanishing", path);
    }

    /// <summary>mkstemp beside the lock file (last extension replaced by `tmp_XXXXXX`), mode 0600.</summary>
    private static (int Fd, string Path) CreateTemp(string path, string what)
    {
        const string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        for (var attempt = 0; ; attempt++)
        {
            var tmp = AtomicFile.WithExtension(path, "tmp_" + RandomNumberGenerator.GetString(chars, 6));
            var fd = Libc.Open(tmp, Libc.O_RDWR | Libc.O_CREAT | Libc.O_EXCL | Libc.O_CLOEXEC, 0x180);
            if (fd >= 0) return (fd, tmp);
            var errno = Libc.LastErrno;
            if (errno != Libc.EEXIST || attempt >= 100) throw OpenError(path, what, errno);
        }
    }

    private static PbsException OpenError(string path, string what, int errno)
        => new("LockFailed", KindOf(errno), $"unable to acquire {what} \"{path}\" - unable to open lock file - {Libc.StrError(errno)}", path);

    private static PbsErrorKind KindOf(int errno)
        => errno == Libc.EACCES || errno == Libc.EPERM ? PbsErrorKind.PermissionDenied : PbsErrorKind.WriteError;

    /// <summary>" (held by pid N (comm))" from /proc/locks for the flock on fd's inode, or "" if unknown.</summary>
    internal static string DescribeHolder(int fd)
    {
        try
        {
            if (Libc.TryFstat(fd, out var st) != 0) return "";
            var self = Environment.ProcessId;
            var holders = new List<string>();
            foreach (var line in File.ReadLines("/proc/locks"))
            {
                // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; blocked waiters have "->" and are skipped.
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length < 6 || f[1] == "->" || f[1] != "FLOCK") continue;
                var dev = f[5].Split(':');
                if (dev.Length != 3
                    || !uint.TryParse(dev[0], NumberStyles.HexNumber, null, out var maj) || maj != st.DevMajor
                    || !uint.TryParse(dev[1], NumberStyles.HexNumber, null, out var min) || min != st.DevMinor
                    || !ulong.TryParse(dev[2], out var ino) || ino != st.Inode
                    || !int.TryParse(f[4], out var pid)) continue;
                var comm = ReadComm(pid);
                holders.Add(pid == self ? $"pid {pid} ({comm}, this process)" : $"pid {pid} ({comm})");
            }
            return holders.Count == 0 ? "" : $" (held by {string.Join(", ", holders.Distinct())})";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return ""; }
    }

    private static string ReadComm(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/comm").Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return "exited"; }
    }
}
