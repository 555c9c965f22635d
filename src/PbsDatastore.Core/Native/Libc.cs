using System.Runtime.InteropServices;

namespace PbsDatastore.Core.Native;

/// <summary>
/// Raw libc calls: the hot ones (utimensat, statx) at C speed and those Mono.Posix lacks (flock, fcntl locks).
/// Callers read errno through <see cref="Marshal.GetLastPInvokeError"/>.
/// </summary>
internal static partial class Libc
{
    public const int AT_FDCWD = -100;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const uint STATX_BASIC_STATS = 0x7ff;

    public const long UTIME_NOW = (1L << 30) - 1;
    public const long UTIME_OMIT = (1L << 30) - 2;

    public const int LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4, LOCK_UN = 8;

    public const int F_GETLK = 5, F_SETLK = 6, F_SETLKW = 7;
    public const short F_RDLCK = 0, F_WRLCK = 1, F_UNLCK = 2;

    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80, O_CLOEXEC = 0x80000;
    // These two differ between x86-64 and arm64 Linux.
    public static readonly int O_DIRECTORY = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 0x4000 : 0x10000;
    public static readonly int O_NOFOLLOW = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 0x8000 : 0x20000;

    public const int EINTR = 4, ENOENT = 2, EACCES = 13, EAGAIN = 11, EEXIST = 17, ENOTDIR = 20, EPERM = 1;
    public const int EWOULDBLOCK = EAGAIN;

    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct StatxTimestamp
    {
        public long Seconds;
        public uint Nanoseconds;
        private int _reserved;
    }

    /// <summary>Linux struct statx (same layout on x86-64 and arm64), 256 bytes.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    public struct Statx
    {
        [FieldOffset(0)] public uint Mask;
        [FieldOffset(4)] public uint BlockSize;
        [FieldOffset(16)] public uint LinkCount;
        [FieldOffset(20)] public uint Uid;
        [FieldOffset(24)] public uint Gid;
        [FieldOffset(28)] public ushort Mode;
        [FieldOffset(32)] public ulong Inode;
        [FieldOffset(40)] public ulong Size;
        [FieldOffset(48)] public ulong Blocks;
        [FieldOffset(64)] public StatxTimestamp Atime;
        [FieldOffset(80)] public StatxTimestamp Btime;
        [FieldOffset(96)] public StatxTimestamp Ctime;
        [FieldOffset(112)] public StatxTimestamp Mtime;
        [FieldOffset(136)] public uint DevMajor;
        [FieldOffset(140)] public uint DevMinor;

        public const ushort S_IFMT = 0xF000, S_IFDIR = 0x4000, S_IFREG = 0x8000, S_IFLNK = 0xA000;
        public readonly bool IsDirectory => (Mode & S_IFMT) == S_IFDIR;
        public readonly bool IsRegularFile => (Mode & S_IFMT) == S_IFREG;
        public readonly bool IsSymlink => (Mode & S_IFMT) == S_IFLNK;
    }

    /// <summary>struct flock for fcntl record locks (x86-64/arm64 layout).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Flock
    {
        public short Type;
        public short Whence;
        public long Start;
        public long Length;
        public int Pid;
        private int _pad;
    }

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int StatxCall(int dirfd, string path, int flags, uint mask, out Statx buffer);

    [LibraryImport("libc", EntryPoint = "utimensat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static unsafe partial int Utimensat(int dirfd, string path, Timespec* times, int flags);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int OpenAt(int dirfd, string path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    public static partial int FlockCall(int fd, int operation);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    public static partial int FcntlLock(int fd, int cmd, ref Flock lockInfo);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint GetEuid();

    [LibraryImport("libc", EntryPoint = "chown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Chown(string path, uint uid, uint gid);

    [LibraryImport("libc", EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Lchown(string path, uint uid, uint gid);

    [LibraryImport("libc", EntryPoint = "strerror")]
    private static partial IntPtr StrErrorRaw(int errnum);

    public static int LastErrno => Marshal.GetLastPInvokeError();

    public static string StrError(int errno) => Marshal.PtrToStringUTF8(StrErrorRaw(errno)) ?? $"errno {errno}";

    /// <summary>statx without following a final symlink; returns errno (0 on success).</summary>
    public static int TryLstat(string path, out Statx st)
        => StatxCall(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, out st) == 0 ? 0 : LastErrno;

    /// <summary>statx following symlinks; returns errno (0 on success).</summary>
    public static int TryStat(string path, out Statx st)
        => StatxCall(AT_FDCWD, path, 0, STATX_BASIC_STATS, out st) == 0 ? 0 : LastErrno;

    /// <summary>Sets atime to now and leaves mtime alone (PBS's chunk touch); returns errno (0 on success).</summary>
    public static unsafe int TouchAtime(string path, bool followSymlinks = false)
    {
        Timespec* times = stackalloc Timespec[2];
        times[0] = new Timespec { Seconds = 0, Nanoseconds = UTIME_NOW };
        times[1] = new Timespec { Seconds = 0, Nanoseconds = UTIME_OMIT };
        return Utimensat(AT_FDCWD, path, times, followSymlinks ? 0 : AT_SYMLINK_NOFOLLOW) == 0 ? 0 : LastErrno;
    }

    /// <summary>Sets atime (and optionally mtime) to given epoch seconds; for tests and tooling.</summary>
    public static unsafe int SetTimes(string path, long atimeSeconds, long? mtimeSeconds)
    {
        Timespec* times = stackalloc Timespec[2];
        times[0] = new Timespec { Seconds = atimeSeconds, Nanoseconds = 0 };
        times[1] = mtimeSeconds is long m ? new Timespec { Seconds = m } : new Timespec { Nanoseconds = UTIME_OMIT };
        return Utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : LastErrno;
    }
}
