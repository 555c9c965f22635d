using PbsDatastore.Core.Native;

namespace PbsDatastore.Core.Locking;

/// <summary>
/// The chunk store's inter-process reader/writer lock on <c>&lt;store&gt;/.lock</c>, taken exactly as PBS's
/// ProcessLocker takes it: POSIX record locks (<c>fcntl F_SETLK</c>, whole file, never blocking) on one descriptor
/// per process. Shared = a writer that may create chunks not yet referenced by a finished index (PBS backups, syncs,
/// tape restores); exclusive = garbage collection. Record locks belong to the process, so guards of the same process
/// never conflict with each other (an exclusive request converts the process's read lock), but any other process's
/// lock makes the request fail at once.
/// </summary>
/// <remarks>
/// One instance per <c>.lock</c> file per process (<see cref="For"/>). Closing any descriptor of <c>.lock</c> drops
/// every record lock of the process, so the descriptor is opened once, kept while a guard lives and never opened
/// elsewhere; it is closed only when the last guard is released (nothing is lost then).
/// </remarks>
public sealed class ProcessLocker
{
    private static readonly Dictionary<string, ProcessLocker> Lockers = new(StringComparer.Ordinal);

    private readonly object _gate = new();
    private readonly List<long> _sharedGuardTimes = new();
    private int _fd = -1;
    private bool _exclusive;

    private ProcessLocker(string lockPath) => LockPath = lockPath;

    /// <summary>Path of the <c>.lock</c> file.</summary>
    public string LockPath { get; }

    /// <summary>The process-wide locker of the chunk store at <paramref name="storePath"/> (the datastore root).</summary>
    public static ProcessLocker For(string storePath)
    {
        var full = Path.GetFullPath(storePath);
        // Two spellings of one store must share one descriptor: closing either would drop the other's locks.
        var key = Path.Combine(Libc.RealPath(full) ?? full, ".lock");
        lock (Lockers)
        {
            if (!Lockers.TryGetValue(key, out var locker))
                Lockers[key] = locker = new ProcessLocker(key);
            return locker;
        }
    }

    /// <summary>True while this process holds the exclusive lock.</summary>
    public bool IsLockedExclusively { get { lock (_gate) return _exclusive; } }

    /// <summary>
    /// Epoch seconds of this process's oldest live shared guard, or null. Another process's guards are invisible
    /// (the time lives only in its memory), which is why an external GC must hold the exclusive lock.
    /// </summary>
    public long? OldestSharedGuardTime
    {
        get { lock (_gate) return _sharedGuardTimes.Count == 0 ? null : _sharedGuardTimes.Min(); }
    }

    /// <summary>Takes the shared lock (a chunk writer); fails at once if another process holds it exclusively.</summary>
    public IDisposable TryShared()
    {
        lock (_gate)
        {
            if (_sharedGuardTimes.Count == 0 && !_exclusive)
            {
                EnsureOpen();
                if (!TrySetLock(Libc.F_RDLCK, out var errno))
                {
                    var error = Busy("shared", errno);
                    CloseIfIdle();
                    throw error;
                }
            }
            var time = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            _sharedGuardTimes.Add(time);
            return new Guard(this, shared: true, time);
        }
    }

    /// <summary>
    /// Takes the exclusive lock (garbage collection); fails at once if this process already holds it or if any
    /// other process holds the lock shared or exclusively.
    /// </summary>
    public IDisposable TryExclusive()
    {
        lock (_gate)
        {
            if (_exclusive)
                throw new PbsException("GarbageCollectionRunning", PbsErrorKind.ResourceBusy,
                    $"unable to get exclusive lock on '{LockPath}' - already locked exclusively by this process (a garbage collection is already running)",
                    LockPath);
            EnsureOpen();
            if (!TrySetLock(Libc.F_WRLCK, out var errno))
            {
                var error = Busy("exclusive", errno);
                CloseIfIdle();
                throw error;
            }
            _exclusive = true;
            return new Guard(this, shared: false, 0);
        }
    }

    /// <summary>
    /// Who else holds a lock that would conflict with an exclusive request (<c>F_GETLK</c>): null if nobody, else
    /// the kind and the holder's PID (-1 for an open-file-description lock). Never takes or drops a lock.
    /// </summary>
    public (bool Exclusive, int Pid)? FindConflictingHolder()
    {
        lock (_gate)
        {
            var opened = _fd < 0;
            EnsureOpen();
            try { return QueryHolder(); }
            finally { if (opened) CloseIfIdle(); }
        }
    }

    private (bool Exclusive, int Pid)? QueryHolder()
    {
        var probe = new Libc.Flock { Type = Libc.F_WRLCK, Whence = 0, Start = 0, Length = 0 };
        if (Libc.FcntlLock(_fd, Libc.F_GETLK, ref probe) != 0 || probe.Type == Libc.F_UNLCK)
            return null;
        return (probe.Type == Libc.F_WRLCK, probe.Pid);
    }

    private PbsException Busy(string kind, int errno)
    {
        if (errno != Libc.EAGAIN && errno != Libc.EACCES)
            return new PbsException("ChunkStoreLockFailed", PbsErrorKind.ResourceBusy,
                $"unable to get {kind} lock on '{LockPath}' - {Libc.StrError(errno)}", LockPath);
        var holder = QueryHolder();
        var who = holder is { } h && h.Pid > 0 ? $"process {h.Pid}" : "another process";
        if (holder is { Exclusive: true })
            return new PbsException("GarbageCollectionRunning", PbsErrorKind.ResourceBusy,
                $"unable to get {kind} lock on '{LockPath}' - {who} holds the chunk store lock exclusively (a garbage collection is running)",
                LockPath);
        return new PbsException("ChunkStoreInUse", PbsErrorKind.ResourceBusy,
            $"unable to get {kind} lock on '{LockPath}' - {who} holds the chunk store lock shared (a PBS backup, sync or tape restore is writing to this datastore); try again when it has finished",
            LockPath);
    }

    private void Release(bool shared, long time)
    {
        lock (_gate)
        {
            if (shared)
            {
                _sharedGuardTimes.Remove(time);
                if (_sharedGuardTimes.Count == 0 && !_exclusive)
                    Unlock();
            }
            else
            {
                _exclusive = false;
                // Back to a read lock while this process still has writers; this conversion never conflicts.
                if (_sharedGuardTimes.Count > 0)
                    TrySetLock(Libc.F_RDLCK, out _);
                else
                    Unlock();
            }
        }
    }

    private void Unlock()
    {
        TrySetLock(Libc.F_UNLCK, out _);
        CloseIfIdle();
    }

    private bool TrySetLock(short type, out int errno)
    {
        var request = new Libc.Flock { Type = type, Whence = 0, Start = 0, Length = 0 };
        while (true)
        {
            if (Libc.FcntlLock(_fd, Libc.F_SETLK, ref request) == 0) { errno = 0; return true; }
            errno = Libc.LastErrno;
            if (errno != Libc.EINTR) return false;
        }
    }

    private void EnsureOpen()
    {
        if (_fd >= 0) return;
        // Never created here: a .lock created by root would belong to root and lock PBS's own user out (§6.1).
        var fd = Libc.Open(LockPath, Libc.O_RDWR | Libc.O_CLOEXEC, 0);
        if (fd < 0)
        {
            var errno = Libc.LastErrno;
            throw errno switch
            {
                Libc.ENOENT => new PbsException("ChunkStoreLockMissing", PbsErrorKind.ObjectNotFound,
                    $"chunk store lock file '{LockPath}' does not exist; refusing to create it (not a datastore, or not initialised by PBS)", LockPath),
                Libc.EACCES or Libc.EPERM => new PbsException("ChunkStoreLockDenied", PbsErrorKind.PermissionDenied,
                    $"unable to open chunk store lock file '{LockPath}' for reading and writing - {Libc.StrError(errno)}", LockPath),
                _ => new PbsException("ChunkStoreLockFailed", PbsErrorKind.ReadError,
                    $"unable to open chunk store lock file '{LockPath}' - {Libc.StrError(errno)}", LockPath),
            };
        }
        _fd = fd;
    }

    private void CloseIfIdle()
    {
        if (_fd >= 0 && _sharedGuardTimes.Count == 0 && !_exclusive)
        {
            Libc.Close(_fd);
            _fd = -1;
        }
    }

    private sealed class Guard(ProcessLocker owner, bool shared, long time) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
                owner.Release(shared, time);
        }
    }
}
