using System.Buffers;
using System.Text;
using Microsoft.Win32.SafeHandles;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Native;

namespace PbsDatastore.Core.Store;

/// <summary>
/// A datastore directory on a local file system (PBS's <c>backend type=filesystem</c>): descriptors of the root
/// and of <c>.chunks</c>, opened once, and every call relative to them (*at calls on raw names: no path strings
/// in the per-chunk loops, names that are not UTF-8 stay reachable, no symlink is followed).
/// </summary>
public sealed class FilesystemBackend : IDatastoreBackend
{
    public const uint DirectoryMode = 0x1E8; // 0750, what PBS 3.2.9+ requires of .chunks and its prefix dirs
    public const uint BaseDirectoryMode = 0x1ED; // 0755

    private readonly Descriptor _root, _chunks;
    private readonly Lazy<(uint Uid, uint Gid)?> _chunkOwner = new(BackupOwner.ForNewFiles);

    private FilesystemBackend(string name, string basePath, Descriptor root, Descriptor chunks, bool syncChunks)
    {
        Name = name;
        BasePath = basePath;
        _root = root;
        _chunks = chunks;
        SyncChunks = syncChunks;
    }

    public string Name { get; }
    public string BasePath { get; }
    public string ChunkDir => Path.Combine(BasePath, ChunkLayout.ChunkDirName);

    public string PrefixDirPath(int prefixIndex) => Path.Combine(ChunkDir, ChunkLayout.PrefixDirName(prefixIndex));

    /// <summary>fsync each inserted chunk and its prefix directory (datastore tuning <c>sync-level=file</c>).</summary>
    public bool SyncChunks { get; }

    private int RootFd => (int)_root.DangerousGetHandle();
    private int ChunksFd => (int)_chunks.DangerousGetHandle();

    /// <summary>Opens an existing store: an absolute path whose <c>.chunks</c> is a directory.</summary>
    public static FilesystemBackend Open(string name, string basePath, bool syncChunks = false)
    {
        if (!Path.IsPathRooted(basePath))
            throw new PbsException("DatastorePathNotAbsolute", PbsErrorKind.InvalidArgument, $"expected absolute path - got {basePath}", basePath);
        basePath = Path.TrimEndingDirectorySeparator(basePath);
        var rootFd = Libc.Open(basePath, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        var chunkDir = Path.Combine(basePath, ChunkLayout.ChunkDirName);
        if (rootFd < 0) throw NotFound(name, chunkDir, basePath, Libc.LastErrno);
        var root = new Descriptor(rootFd);
        var chunksFd = OpenDirectoryAt(rootFd, ".chunks\0"u8);
        if (chunksFd < 0)
        {
            root.Dispose();
            throw NotFound(name, chunkDir, basePath, -chunksFd);
        }
        return new FilesystemBackend(name, basePath, root, new Descriptor(chunksFd), syncChunks);
    }

    private static PbsException NotFound(string name, string chunkDir, string basePath, int errno)
        => new("ChunkStoreNotFound", errno is Libc.ENOENT or Libc.ENOTDIR or Libc.ELOOP ? PbsErrorKind.ObjectNotFound
                : errno is Libc.EACCES or Libc.EPERM ? PbsErrorKind.PermissionDenied : PbsErrorKind.ReadError,
            $"unable to open chunk store '{name}' at \"{chunkDir}\" - {(errno is Libc.ELOOP ? "not a directory" : Libc.StrError(errno))}", basePath);

    /// <summary>
    /// Creates a chunk store as PBS does: base directory (with parents), `.chunks` (must not exist), an empty
    /// `.lock` written atomically, then the 65536 prefix directories, logging `Chunkstore create: N%`.
    /// Run as root, everything it creates belongs to backup:backup.
    /// </summary>
    public static FilesystemBackend Create(string name, string basePath, ITaskState? state = null)
    {
        state ??= NullTaskState.Instance;
        if (!Path.IsPathRooted(basePath))
            throw new PbsException("DatastorePathNotAbsolute", PbsErrorKind.InvalidArgument, $"expected absolute path - got {basePath}", basePath);
        var owner = BackupOwner.ForNewFiles();
        basePath = Path.TrimEndingDirectorySeparator(basePath);
        var chunkDir = Path.Combine(basePath, ChunkLayout.ChunkDirName);
        try
        {
            if (Path.GetDirectoryName(basePath) is { Length: > 0 } parent) Directory.CreateDirectory(parent);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PbsException("ChunkStoreCreateFailed", PbsErrorKind.WriteError,
                $"unable to create chunk store '{name}' at \"{basePath}\" - {e.Message}", basePath, e);
        }
        if (Libc.Mkdir(basePath, BaseDirectoryMode) != 0 && Libc.LastErrno is var errno && errno != Libc.EEXIST)
            throw new PbsException("ChunkStoreCreateFailed", errno is Libc.EACCES or Libc.EPERM ? PbsErrorKind.PermissionDenied : PbsErrorKind.WriteError,
                $"unable to create chunk store '{name}' at \"{basePath}\" - {Libc.StrError(errno)}", basePath);
        Chown(basePath, owner, name);
        CreateOwnedDir(name, chunkDir, owner);
        AtomicFile.Replace(Path.Combine(basePath, ChunkLayout.LockFileName), [], AtomicFile.DefaultMode, owner);

        var lastPercentage = 0;
        for (var i = 0; i < ChunkLayout.PrefixCount; i++)
        {
            if ((i & 0xff) == 0) state.CheckAbort();
            CreateOwnedDir(name, Path.Combine(chunkDir, ChunkLayout.PrefixDirName(i)), owner);
            var percentage = i * 100 / ChunkLayout.PrefixCount;
            if (percentage != lastPercentage)
            {
                state.Log($"Chunkstore create: {percentage}%");
                state.Progress(0, "Chunkstore create", basePath, percentage);
                lastPercentage = percentage;
            }
        }
        state.Complete(0, "Chunkstore create");
        return Open(name, basePath);
    }

    private static void CreateOwnedDir(string name, string path, (uint Uid, uint Gid)? owner)
    {
        if (Libc.Mkdir(path, DirectoryMode) != 0)
        {
            var errno = Libc.LastErrno;
            throw new PbsException("ChunkStoreCreateFailed", errno == Libc.EEXIST ? PbsErrorKind.ResourceExists : PbsErrorKind.WriteError,
                $"unable to create chunk store '{name}' subdir \"{path}\" - {Libc.StrError(errno)}", path);
        }
        Chown(path, owner, name);
    }

    private static void Chown(string path, (uint Uid, uint Gid)? owner, string name)
    {
        if (owner is var (uid, gid) && Libc.Chown(path, uid, gid) != 0)
            throw new PbsException("ChunkStoreCreateFailed", PbsErrorKind.PermissionDenied,
                $"unable to set owner of chunk store '{name}' path \"{path}\" - {Libc.StrError(Libc.LastErrno)}", path);
    }

    public string ChunkPath(in ChunkDigest digest, string suffix = "")
    {
        var hex = digest.ToString();
        return $"{BasePath}/{ChunkLayout.ChunkDirName}/{hex.AsSpan(0, 4)}/{hex}{suffix}";
    }

    public unsafe int TouchChunk(in ChunkDigest digest, ReadOnlySpan<byte> suffix)
    {
        Span<byte> path = stackalloc byte[80];
        ChunkLayout.WriteChunkPath(digest, suffix, path);
        fixed (byte* p = path) return Libc.TouchAtimeAt(ChunksFd, p);
    }

    public unsafe int StatChunk(in ChunkDigest digest, ReadOnlySpan<byte> suffix, out ChunkFileStat stat)
    {
        Span<byte> path = stackalloc byte[80];
        ChunkLayout.WriteChunkPath(digest, suffix, path);
        fixed (byte* p = path) return StatAt(ChunksFd, p, out stat);
    }

    private const int DirectoryBatchMinimum = 4;

    public void TouchChunks(int prefix, ReadOnlySpan<ChunkDigest> digests, Span<int> errnos)
        => InChunkDirectory(prefix, digests, errnos, default, touch: true);

    public void StatChunks(int prefix, ReadOnlySpan<ChunkDigest> digests, Span<int> errnos, Span<ChunkFileStat> stats)
        => InChunkDirectory(prefix, digests, errnos, stats, touch: false);

    /// <summary>
    /// Touches or stats chunks by name relative to their prefix directory, opened once. A missing directory means
    /// missing chunks; a directory that cannot be opened so (a symlink, no read permission) is left to the per-chunk
    /// path, which resolves it as PBS's path does. So are a few chunks, for which the open and close cost more than
    /// the lookups of the directory they save.
    /// </summary>
    private unsafe void InChunkDirectory(int prefix, ReadOnlySpan<ChunkDigest> digests, Span<int> errnos, Span<ChunkFileStat> stats,
        bool touch)
    {
        Span<byte> name = stackalloc byte[80];
        ChunkLayout.WritePrefix(prefix, name);
        name[4] = 0;
        var fd = 0;
        if (digests.Length < DirectoryBatchMinimum || (fd = OpenDirectoryAt(ChunksFd, name)) < 0)
        {
            for (var i = 0; i < digests.Length; i++)
            {
                if (!touch) stats[i] = default;
                errnos[i] = fd == -Libc.ENOENT ? Libc.ENOENT : touch ? TouchChunk(digests[i], default) : StatChunk(digests[i], default, out stats[i]);
            }
            return;
        }
        try
        {
            fixed (byte* p = name)
            {
                for (var i = 0; i < digests.Length; i++)
                {
                    // The chunk path's name part: "xxxx/" skipped.
                    ChunkLayout.WriteChunkPath(digests[i], default, name);
                    errnos[i] = touch ? Libc.TouchAtimeAt(fd, p + 5) : StatAt(fd, p + 5, out stats[i]);
                }
            }
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    internal static unsafe int StatAt(int dirFd, byte* pathZ, out ChunkFileStat stat)
    {
        Libc.Statx st;
        if (Libc.StatxAt(dirFd, pathZ, Libc.AT_SYMLINK_NOFOLLOW, Libc.STATX_BASIC_STATS, &st) != 0)
        {
            stat = default;
            return Libc.LastErrno;
        }
        stat = ToStat(st);
        return 0;
    }

    private static ChunkFileStat ToStat(in Libc.Statx st)
        => new((long)st.Size, st.Atime.Seconds, st.Mtime.Seconds,
            st.IsRegularFile ? StoreEntryType.File : st.IsDirectory ? StoreEntryType.Directory : st.IsSymlink ? StoreEntryType.Symlink : StoreEntryType.Other,
            st.Inode);

    public unsafe int ReadChunk(in ChunkDigest digest, out byte[]? buffer, out long length)
    {
        buffer = null;
        length = 0;
        Span<byte> path = stackalloc byte[80];
        ChunkLayout.WriteChunkPath(digest, default, path);
        int fd;
        // A plain read, as PBS's verify and restore read chunks (the access time may move).
        fixed (byte* p = path)
        {
            do fd = Libc.OpenAt(ChunksFd, p, Libc.O_RDONLY | Libc.O_CLOEXEC | Libc.O_NONBLOCK, 0);
            while (fd < 0 && Libc.LastErrno == Libc.EINTR);
        }
        if (fd < 0) return Libc.LastErrno;
        try
        {
            Libc.Statx st;
            byte empty = 0;
            if (Libc.StatxAt(fd, &empty, Libc.AT_EMPTY_PATH, Libc.STATX_BASIC_STATS, &st) != 0) return Libc.LastErrno;
            length = (long)st.Size;
            if (length > DataBlob.MaxRawSize) return Libc.EFBIG;
            var rented = ArrayPool<byte>.Shared.Rent((int)Math.Max(length, 1));
            var errno = ReadAll(fd, rented.AsSpan(0, (int)length), out var done);
            if (errno != 0)
            {
                ArrayPool<byte>.Shared.Return(rented);
                return errno;
            }
            buffer = rented;
            length = done;
            return 0;
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    private static unsafe int ReadAll(int fd, Span<byte> target, out int done)
    {
        done = 0;
        fixed (byte* b = target)
        {
            while (done < target.Length)
            {
                var n = Libc.Read(fd, b + done, target.Length - done);
                if (n < 0 && Libc.LastErrno == Libc.EINTR) continue;
                if (n < 0) return Libc.LastErrno;
                if (n == 0) break;
                done += (int)n;
            }
        }
        return 0;
    }

    public ChunkInsertResult InsertChunk(in ChunkDigest digest, DataBlob blob, ITaskState? state = null)
    {
        var path = ChunkPath(digest);
        var raw = blob.Raw;
        var errno = StatChunk(digest, default, out var existing);
        if (errno == 0)
        {
            if (!existing.IsRegularFile)
                throw new PbsException("ChunkUnexpectedFileType", PbsErrorKind.InvalidData,
                    $"got unexpected file type on store '{Name}' for chunk {digest}", path);
            var oldSize = existing.Size;
            if (oldSize == raw.Length)
                return Duplicate(digest, oldSize);
            if (oldSize == 0)
            {
                (state ?? NullTaskState.Instance).Warn($"found empty chunk '{digest}' in store {Name}, overwriting");
            }
            else if (blob.Kind.IsEncrypted())
            {
                var existingKind = DataBlob.KindOf(ReadMagic(path, digest));
                if (existingKind is BlobKind.Uncompressed or BlobKind.Compressed)
                    throw new PbsException("ChunkOverwriteRefused", PbsErrorKind.InvalidData,
                        $"Overwriting unencrypted chunk '{digest}' on store '{Name}' with encrypted chunk with same digest not allowed!", path);
                if (existingKind == BlobKind.Encrypted && !blob.Kind.IsCompressed())
                    throw new PbsException("ChunkOverwriteRefused", PbsErrorKind.InvalidData,
                        $"Overwriting existing (encrypted) chunk '{digest}' on store '{Name}' is not allowed!", path);
                // Encrypted data of another zstd version may differ in size: keep what is there.
                return Duplicate(digest, oldSize);
            }
            else if (oldSize < raw.Length)
            {
                return Duplicate(digest, oldSize);
            }
        }
        else if (errno != Libc.ENOENT)
        {
            throw new PbsException("ChunkStatFailed", errno == Libc.EACCES ? PbsErrorKind.PermissionDenied : PbsErrorKind.ReadError,
                $"unable to stat chunk {digest} on store '{Name}' - {Libc.StrError(errno)}", path);
        }

        AtomicFile.Replace(path, raw, AtomicFile.DefaultMode, _chunkOwner.Value, fsync: SyncChunks);
        if (SyncChunks) FsyncDir(PrefixDirPath(digest.PrefixIndex));
        return new ChunkInsertResult(false, raw.Length);
    }

    private ChunkInsertResult Duplicate(in ChunkDigest digest, long size)
    {
        this.CondTouchChunk(digest, assertExists: true);
        return new ChunkInsertResult(true, size);
    }

    private byte[] ReadMagic(string path, ChunkDigest digest)
    {
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var magic = new byte[8];
            if (RandomAccess.Read(handle, magic, 0) != magic.Length)
                throw new PbsException("ChunkReadFailed", PbsErrorKind.InvalidData, $"existing chunk {digest} on store '{Name}' is too short", path);
            return magic;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PbsException("ChunkReadFailed", PbsErrorKind.ReadError, $"unable to read chunk {digest} on store '{Name}' - {e.Message}", path, e);
        }
    }

    private static void FsyncDir(string path)
    {
        var fd = Libc.Open(path, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        var errno = fd < 0 ? Libc.LastErrno : Libc.Fsync(fd) == 0 ? 0 : Libc.LastErrno;
        if (fd >= 0) Libc.Close(fd);
        if (errno != 0)
            throw new PbsException("FileWriteFailed", PbsErrorKind.WriteError, $"fsync failed: {Libc.StrError(errno)}", path);
    }

    public string? RenameCorruptChunk(in ChunkDigest digest, ITaskState state)
    {
        var chunkPath = ChunkPath(digest);
        string target = "";
        for (var n = 0; n <= 9; n++)
        {
            target = $"{chunkPath}.{n}.bad";
            if (StatChunk(digest, ChunkLayout.BadSuffixes[n], out _) == Libc.ENOENT) break;
        }
        if (Libc.Rename(chunkPath, target) == 0)
        {
            state.Log($"corrupted chunk renamed to \"{target}\"");
            return target;
        }
        var errno = Libc.LastErrno;
        if (errno != Libc.ENOENT)
            state.Log($"could not rename corrupted chunk \"{chunkPath}\" - {Libc.StrError(errno)}");
        return null;
    }

    public int OpenChunkDirectory(int prefix, out IStoreDirectory? directory)
    {
        Span<byte> name = stackalloc byte[5];
        ChunkLayout.WritePrefix(prefix, name);
        name[4] = 0;
        var fd = OpenDirectoryAt(ChunksFd, name);
        directory = fd < 0 ? null : new ListedDirectory(fd, null, prefix);
        return fd < 0 ? -fd : 0;
    }

    public int OpenRoot(out IStoreDirectory? directory)
    {
        var fd = OpenDirectoryAt(RootFd, ".\0"u8);
        directory = fd < 0 ? null : new ListedDirectory(fd, []);
        return fd < 0 ? -fd : 0;
    }

    public unsafe int ReadFile(ReadOnlySpan<byte> relativePath, byte[]? spare, out byte[]? data, out bool opened)
    {
        data = null;
        opened = false;
        Span<byte> pathZ = relativePath.Length < 1024 ? stackalloc byte[relativePath.Length + 1] : new byte[relativePath.Length + 1];
        relativePath.CopyTo(pathZ);
        pathZ[^1] = 0;
        int fd;
        // O_NONBLOCK: a FIFO named like an index must not hang the GC (it then reads as empty and fails to parse).
        fixed (byte* p = pathZ) fd = Libc.OpenReadNoAtime(RootFd, p, Libc.O_NONBLOCK);
        if (fd < 0) return -fd;
        opened = true;
        try
        {
            Libc.Statx st;
            byte empty = 0;
            if (Libc.StatxAt(fd, &empty, Libc.AT_EMPTY_PATH, Libc.STATX_BASIC_STATS, &st) != 0) return Libc.LastErrno;
            if (st.Size > (ulong)Array.MaxLength) return Libc.EFBIG;
            var buffer = spare?.Length == (int)st.Size ? spare : GC.AllocateUninitializedArray<byte>((int)st.Size);
            var errno = ReadAll(fd, buffer, out var done);
            if (errno != 0) return errno;
            // The file shrank while being read: what was read is the file now.
            data = done == buffer.Length ? buffer : buffer[..done];
            return 0;
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    public unsafe int StatFile(ReadOnlySpan<byte> relativePath, out ChunkFileStat stat)
    {
        Span<byte> pathZ = relativePath.Length < 1024 ? stackalloc byte[relativePath.Length + 1] : new byte[relativePath.Length + 1];
        relativePath.CopyTo(pathZ);
        pathZ[^1] = 0;
        fixed (byte* p = pathZ) return StatAt(RootFd, p, out stat);
    }

    public int RenameNoReplace(string fromRelativePath, string toRelativePath)
    {
        var errno = Libc.Renameat2(RootFd, fromRelativePath, RootFd, toRelativePath, Libc.RENAME_NOREPLACE) == 0 ? 0 : Libc.LastErrno;
        // File systems without RENAME_NOREPLACE: rename only after checking nothing is there (callers hold the locks).
        if (errno is Libc.EINVAL or Libc.ENOSYS)
        {
            var exists = StatFile(Encoding.UTF8.GetBytes(toRelativePath), out _);
            errno = exists == 0 ? Libc.EEXIST : exists != Libc.ENOENT ? exists
                : Libc.Renameat2(RootFd, fromRelativePath, RootFd, toRelativePath, 0) == 0 ? 0 : Libc.LastErrno;
        }
        return errno;
    }

    /// <summary>
    /// Made on a probe file in <c>.chunks</c> instead of the zero chunk so the store's content and GC figures stay
    /// unchanged: set an atime one hour back, touch, and require the atime to have moved forward.
    /// </summary>
    public unsafe void CheckAtimeUpdates()
    {
        var name = Encoding.ASCII.GetBytes($".gc-atime-check.tmp_{Random.Shared.Next():x8}\0");
        int fd;
        fixed (byte* p = name) fd = Libc.OpenAt(ChunksFd, p, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_CLOEXEC, 0b110_100_100);
        if (fd < 0)
            throw new PbsException("AtimeSafetyCheckFailed", PbsErrorKind.WriteError,
                $"access time safety check failed: unable to create a probe file in '{ChunkDir}' - {Libc.StrError(Libc.LastErrno)}", BasePath);
        Libc.Close(fd);
        try
        {
            var past = DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 3600;
            Libc.Statx before = default, after = default;
            var times = stackalloc Libc.Timespec[2];
            times[0] = new Libc.Timespec { Seconds = past };
            times[1] = new Libc.Timespec { Nanoseconds = Libc.UTIME_OMIT };
            int errno;
            fixed (byte* p = name)
            {
                errno = Libc.UtimensatAt(ChunksFd, p, times, Libc.AT_SYMLINK_NOFOLLOW) == 0 ? 0 : Libc.LastErrno;
                if (errno == 0) errno = Libc.StatxAt(ChunksFd, p, Libc.AT_SYMLINK_NOFOLLOW, Libc.STATX_BASIC_STATS, &before) == 0 ? 0 : Libc.LastErrno;
                if (errno == 0) errno = Libc.TouchAtimeAt(ChunksFd, p);
                if (errno == 0) errno = Libc.StatxAt(ChunksFd, p, Libc.AT_SYMLINK_NOFOLLOW, Libc.STATX_BASIC_STATS, &after) == 0 ? 0 : Libc.LastErrno;
            }
            if (errno != 0)
                throw new PbsException("AtimeSafetyCheckFailed", PbsErrorKind.WriteError,
                    $"access time safety check failed on '{BasePath}' - {Libc.StrError(errno)}, aborting GC!", BasePath);
            if (after.Atime.Seconds <= before.Atime.Seconds)
                throw new PbsException("AtimeSafetyCheckFailed", PbsErrorKind.InvalidOperation,
                    $"access time safety check failed on '{BasePath}': the file system did not update the access time (before {before.Atime.Seconds}, after {after.Atime.Seconds}); garbage collection would delete chunks still in use, aborting GC!",
                    BasePath);
        }
        finally
        {
            fixed (byte* p = name) Libc.UnlinkAt(ChunksFd, p, 0);
        }
    }

    private static unsafe int OpenDirectoryAt(int dirFd, ReadOnlySpan<byte> nameZ)
    {
        fixed (byte* p = nameZ) return Libc.OpenDirectoryAt(dirFd, p);
    }

    public void Dispose()
    {
        _chunks.Dispose();
        _root.Dispose();
    }

    public override string ToString() => $"{Name} ({BasePath})";

    /// <summary>An owned descriptor, closed on dispose or, for a store never disposed, by the finalizer.</summary>
    private sealed class Descriptor : SafeHandleZeroOrMinusOneIsInvalid
    {
        public Descriptor(int fd) : base(ownsHandle: true) => SetHandle(fd);
        protected override bool ReleaseHandle() => Libc.Close((int)handle) == 0;
    }

    /// <summary>
    /// A directory listed with getdents64 into a pooled buffer (the one getdents parser of the project); the
    /// current entry is addressed relative to the directory's descriptor.
    /// </summary>
    private sealed unsafe class ListedDirectory : IStoreDirectory
    {
        private readonly int _fd;
        private readonly int _prefix;
        private byte[]? _relativePath;
        private byte[]? _buffer = ArrayPool<byte>.Shared.Rent(32 * 1024);
        private int _offset, _length, _nameStart, _nameLength;

        /// <param name="relativePath">Null for the chunk directory <paramref name="prefix"/>: a sweep opens all
        /// 65536 of them and needs their path only for an error, so it is not built until then.</param>
        public ListedDirectory(int fd, byte[]? relativePath, int prefix = -1)
        {
            _fd = fd;
            _relativePath = relativePath;
            _prefix = prefix;
        }

        public ReadOnlySpan<byte> RelativePath
            => _relativePath ??= Encoding.ASCII.GetBytes($"{ChunkLayout.ChunkDirName}/{ChunkLayout.PrefixDirName(_prefix)}");
        public int Errno { get; private set; }
        public ReadOnlySpan<byte> Name => _buffer.AsSpan(_nameStart, _nameLength);
        public StoreEntryType Type { get; private set; }

        /// <summary>The current name with its terminating NUL, for *at calls.</summary>
        private ReadOnlySpan<byte> NameZ => _buffer.AsSpan(_nameStart, _nameLength + 1);

        public bool MoveNext()
        {
            var buffer = _buffer!;
            while (true)
            {
                if (_offset >= _length)
                {
                    nint n;
                    fixed (byte* p = buffer)
                    {
                        do n = Libc.GetDents64(_fd, p, buffer.Length);
                        while (n < 0 && Libc.LastErrno == Libc.EINTR);
                    }
                    if (n < 0) { Errno = Libc.LastErrno; return false; }
                    if (n == 0) return false;
                    _length = (int)n;
                    _offset = 0;
                }
                // struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, char name[] (NUL-terminated)
                var reclen = buffer[_offset + 16] | (buffer[_offset + 17] << 8);
                var type = buffer[_offset + 18];
                var start = _offset + 19;
                var length = buffer.AsSpan(start, reclen - 19).IndexOf((byte)0);
                _offset += reclen;
                if (length == 1 && buffer[start] == (byte)'.') continue;
                if (length == 2 && buffer[start] == (byte)'.' && buffer[start + 1] == (byte)'.') continue;
                _nameStart = start;
                _nameLength = length;
                Type = type switch
                {
                    Libc.DT_REG => StoreEntryType.File,
                    Libc.DT_DIR => StoreEntryType.Directory,
                    Libc.DT_LNK => StoreEntryType.Symlink,
                    Libc.DT_UNKNOWN => StoreEntryType.Unknown,
                    _ => StoreEntryType.Other,
                };
                return true;
            }
        }

        public int Stat(out ChunkFileStat stat)
        {
            fixed (byte* p = NameZ) return StatAt(_fd, p, out stat);
        }

        public int Remove()
        {
            fixed (byte* p = NameZ) return Libc.UnlinkAt(_fd, p, 0) == 0 ? 0 : Libc.LastErrno;
        }

        public int OpenDirectory(ReadOnlySpan<byte> name, out IStoreDirectory? child)
        {
            Span<byte> nameZ = name.Length < 1024 ? stackalloc byte[name.Length + 1] : new byte[name.Length + 1];
            name.CopyTo(nameZ);
            nameZ[^1] = 0;
            int fd;
            fixed (byte* p = nameZ) fd = Libc.OpenDirectoryAt(_fd, p);
            if (fd < 0)
            {
                child = null;
                return -fd;
            }
            var parent = RelativePath;
            var path = new byte[parent.Length + (parent.Length > 0 ? 1 : 0) + name.Length];
            parent.CopyTo(path);
            if (parent.Length > 0) path[parent.Length] = (byte)'/';
            name.CopyTo(path.AsSpan(path.Length - name.Length));
            child = new ListedDirectory(fd, path);
            return 0;
        }

        public void Dispose()
        {
            if (_buffer is null) return;
            Libc.Close(_fd);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }
    }
}
