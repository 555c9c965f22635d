using System.Buffers;
using System.Text;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Native;

namespace PbsDatastore.Core.Store;

/// <summary>A directory entry of `.chunks/xxxx/` that passes PBS 3.2.4's chunk-name test.</summary>
/// <param name="Name">File name (64 hex digits, or 70 bytes ending in e.g. `.0.bad`).</param>
/// <param name="Digest">The digest spelled by the first 64 characters.</param>
/// <param name="IsBad">The name ends with `.bad`.</param>
/// <param name="PrefixIndex">Index 0..65535 of the prefix directory the entry was found in.</param>
public readonly record struct ChunkEntry(string Name, ChunkDigest Digest, bool IsBad, int PrefixIndex)
{
    public string PrefixDirName => ChunkStore.PrefixDirName(PrefixIndex);
}

/// <summary>lstat facts of a chunk file (whole-second times, as PBS's GC compares them).</summary>
public readonly record struct ChunkFileStat(long Size, long AtimeSeconds, long MtimeSeconds, bool IsRegularFile);

/// <summary>What <see cref="ChunkStore.Insert"/> did: kept an existing chunk (duplicate) or wrote this one.</summary>
public readonly record struct ChunkInsertResult(bool Duplicate, long EncodedSize);

/// <summary>
/// The `.chunks` directory of a datastore: 65536 prefix directories `0000`..`ffff`, each chunk stored as
/// `.chunks/&lt;first 4 hex&gt;/&lt;64 hex&gt;`. The chunk-store process lock on `.lock` lives in Locking, not here.
/// </summary>
public sealed class ChunkStore
{
    public const int PrefixCount = 65536;
    public const string ChunkDirName = ".chunks";
    public const string LockFileName = ".lock";
    public const uint DirectoryMode = 0x1E8; // 0750, what PBS 3.2.9+ requires of .chunks and its prefix dirs
    public const uint BaseDirectoryMode = 0x1ED; // 0755

    private ChunkStore(string name, string basePath, bool syncChunks = false)
    {
        Name = name;
        SyncChunks = syncChunks;
        BasePath = basePath;
        ChunkDir = Path.Combine(basePath, ChunkDirName);
    }

    /// <summary>Datastore name, used in PBS's messages.</summary>
    public string Name { get; }
    public string BasePath { get; }
    public string ChunkDir { get; }
    public string LockFilePath => Path.Combine(BasePath, LockFileName);

    /// <summary>fsync each inserted chunk and its prefix directory (datastore tuning `sync-level=file`).</summary>
    public bool SyncChunks { get; }

    public static string PrefixDirName(int prefixIndex) => prefixIndex.ToString("x4");

    public string PrefixDirPath(int prefixIndex) => Path.Combine(ChunkDir, PrefixDirName(prefixIndex));

    public string ChunkPath(ChunkDigest digest)
    {
        var hex = digest.ToString();
        return $"{ChunkDir}/{hex.AsSpan(0, 4)}/{hex}";
    }

    public string ChunkPath(ReadOnlySpan<byte> digest) => ChunkPath(new ChunkDigest(digest));

    public string EntryPath(in ChunkEntry entry) => $"{ChunkDir}/{entry.PrefixDirName}/{entry.Name}";

    /// <summary>Opens an existing store: an absolute path whose `.chunks` is a directory.</summary>
    public static ChunkStore Open(string name, string basePath, bool syncChunks = false)
    {
        if (!Path.IsPathRooted(basePath))
            throw new PbsException("DatastorePathNotAbsolute", PbsErrorKind.InvalidArgument, $"expected absolute path - got {basePath}", basePath);
        var store = new ChunkStore(name, Path.TrimEndingDirectorySeparator(basePath), syncChunks);
        var errno = Libc.TryStat(store.ChunkDir, out var st);
        if (errno != 0 || !st.IsDirectory)
        {
            var reason = errno != 0 ? Libc.StrError(errno) : "not a directory";
            throw new PbsException("ChunkStoreNotFound", errno is 0 or Libc.ENOENT or Libc.ENOTDIR ? PbsErrorKind.ObjectNotFound : PbsErrorKind.ReadError,
                $"unable to open chunk store '{name}' at \"{store.ChunkDir}\" - {reason}", basePath);
        }
        return store;
    }

    /// <summary>
    /// Creates a chunk store as PBS does: base directory (with parents), `.chunks` (must not exist), an empty
    /// `.lock` written atomically, then the 65536 prefix directories, logging `Chunkstore create: N%`.
    /// Run as root, everything it creates belongs to backup:backup.
    /// </summary>
    public static ChunkStore Create(string name, string basePath, ITaskState? state = null)
    {
        state ??= NullTaskState.Instance;
        if (!Path.IsPathRooted(basePath))
            throw new PbsException("DatastorePathNotAbsolute", PbsErrorKind.InvalidArgument, $"expected absolute path - got {basePath}", basePath);
        var owner = BackupOwner.ForNewFiles();
        var store = new ChunkStore(name, Path.TrimEndingDirectorySeparator(basePath));
        try
        {
            if (Path.GetDirectoryName(store.BasePath) is { Length: > 0 } parent) Directory.CreateDirectory(parent);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PbsException("ChunkStoreCreateFailed", PbsErrorKind.WriteError,
                $"unable to create chunk store '{name}' at \"{store.BasePath}\" - {e.Message}", basePath, e);
        }
        if (Libc.Mkdir(store.BasePath, BaseDirectoryMode) != 0 && Libc.LastErrno is var errno && errno != Libc.EEXIST)
            throw new PbsException("ChunkStoreCreateFailed", errno is Libc.EACCES or Libc.EPERM ? PbsErrorKind.PermissionDenied : PbsErrorKind.WriteError,
                $"unable to create chunk store '{name}' at \"{store.BasePath}\" - {Libc.StrError(errno)}", basePath);
        Chown(store.BasePath, owner, name);
        store.CreateOwnedDir(store.ChunkDir, owner);
        AtomicFile.Replace(store.LockFilePath, [], AtomicFile.DefaultMode, owner);

        var lastPercentage = 0;
        for (var i = 0; i < PrefixCount; i++)
        {
            if ((i & 0xff) == 0) state.CheckAbort();
            store.CreateOwnedDir(store.PrefixDirPath(i), owner);
            var percentage = i * 100 / PrefixCount;
            if (percentage != lastPercentage)
            {
                state.Log($"Chunkstore create: {percentage}%");
                state.Progress(0, "Chunkstore create", store.BasePath, percentage);
                lastPercentage = percentage;
            }
        }
        state.Complete(0, "Chunkstore create");
        return store;
    }

    private void CreateOwnedDir(string path, (uint Uid, uint Gid)? owner)
    {
        if (Libc.Mkdir(path, DirectoryMode) != 0)
        {
            var errno = Libc.LastErrno;
            throw new PbsException("ChunkStoreCreateFailed", errno == Libc.EEXIST ? PbsErrorKind.ResourceExists : PbsErrorKind.WriteError,
                $"unable to create chunk store '{Name}' subdir \"{path}\" - {Libc.StrError(errno)}", path);
        }
        Chown(path, owner, Name);
    }

    private static void Chown(string path, (uint Uid, uint Gid)? owner, string name)
    {
        if (owner is var (uid, gid) && Libc.Chown(path, uid, gid) != 0)
            throw new PbsException("ChunkStoreCreateFailed", PbsErrorKind.PermissionDenied,
                $"unable to set owner of chunk store '{name}' path \"{path}\" - {Libc.StrError(Libc.LastErrno)}", path);
    }

    /// <summary>
    /// PBS's `insert_chunk` (§12.6): an existing chunk of the same size, or a smaller one, or any existing one when
    /// the new blob is encrypted (unless that would replace plain data or an uncompressed encrypted chunk) is kept and
    /// touched ("duplicate"); an empty or larger existing file is replaced atomically. Run as root, a new chunk file
    /// is given to backup:backup (as PBS 3.3.7+ does) so that PBS's GC can still touch it.
    /// The caller holds the shared chunk-store lock until an index referencing the chunk is finished.
    /// </summary>
    public ChunkInsertResult Insert(ChunkDigest digest, DataBlob blob, ITaskState? state = null)
    {
        var path = ChunkPath(digest);
        var raw = blob.Raw;
        var errno = Libc.TryStat(path, out var existing);
        if (errno == 0)
        {
            if (!existing.IsRegularFile)
                throw new PbsException("ChunkUnexpectedFileType", PbsErrorKind.InvalidData,
                    $"got unexpected file type on store '{Name}' for chunk {digest}", path);
            var oldSize = (long)existing.Size;
            if (oldSize == raw.Length)
                return Duplicate(path, oldSize);
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
                return Duplicate(path, oldSize);
            }
            else if (oldSize < raw.Length)
            {
                return Duplicate(path, oldSize);
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

    private readonly Lazy<(uint Uid, uint Gid)?> _chunkOwner = new(BackupOwner.ForNewFiles);

    private static ChunkInsertResult Duplicate(string path, long size)
    {
        CondTouchPath(path, assertExists: true);
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

    /// <summary>Reads the raw blob bytes of a chunk.</summary>
    public byte[] Load(ChunkDigest digest)
    {
        var path = ChunkPath(digest);
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new PbsException("ChunkNotFound", PbsErrorKind.ObjectNotFound, $"chunk {digest} not found on store '{Name}'", path, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PbsException("ChunkReadFailed", e is UnauthorizedAccessException ? PbsErrorKind.PermissionDenied : PbsErrorKind.ReadError,
                $"unable to read chunk {digest} on store '{Name}' - {e.Message}", path, e);
        }
    }

    /// <summary>lstat of a chunk; null if it does not exist.</summary>
    public ChunkFileStat? Stat(ChunkDigest digest) => StatPath(ChunkPath(digest));

    /// <summary>lstat of any path in the store (e.g. <see cref="EntryPath"/>); null if it does not exist.</summary>
    public static ChunkFileStat? StatPath(string path)
    {
        var errno = Libc.TryLstat(path, out var st);
        if (errno == Libc.ENOENT || errno == Libc.ENOTDIR) return null;
        if (errno != 0)
            throw new PbsException("ChunkStatFailed", errno == Libc.EACCES ? PbsErrorKind.PermissionDenied : PbsErrorKind.ReadError,
                $"unable to stat \"{path}\" - {Libc.StrError(errno)}", path);
        return new ChunkFileStat((long)st.Size, st.Atime.Seconds, st.Mtime.Seconds, st.IsRegularFile);
    }

    /// <summary>PBS's `cond_touch_chunk`: atime = now (mtime kept); false if missing and not <paramref name="assertExists"/>.</summary>
    public bool CondTouchChunk(ChunkDigest digest, bool assertExists) => CondTouchPath(ChunkPath(digest), assertExists);

    /// <summary>PBS's `cond_touch_path` (utimensat NOW/OMIT, no symlink follow).</summary>
    public static bool CondTouchPath(string path, bool assertExists)
    {
        var errno = Libc.TouchAtime(path);
        if (errno == 0) return true;
        if (errno == Libc.ENOENT && !assertExists) return false;
        throw new PbsException("ChunkTouchFailed",
            errno switch { Libc.ENOENT => PbsErrorKind.ObjectNotFound, Libc.EPERM or Libc.EACCES => PbsErrorKind.PermissionDenied, _ => PbsErrorKind.WriteError },
            $"update atime failed for chunk/file \"{path}\" - {Libc.StrError(errno)}", path);
    }

    /// <summary>
    /// PBS 3.2.4's chunk-name test on a raw entry name: exactly 64 or 70 bytes, the first 64 ASCII hex digits (either
    /// case); bad iff it ends with `.bad`. Nothing else is looked at (so `&lt;hex&gt;zzzzzz` passes as a chunk);
    /// GC figures depend on exactly this.
    /// </summary>
    public static bool IsChunkName(ReadOnlySpan<byte> name, out bool isBad)
    {
        isBad = false;
        if (name.Length != 64 && name.Length != 70) return false;
        foreach (var b in name[..64])
            if (!char.IsAsciiHexDigit((char)b)) return false;
        isBad = name.EndsWith(".bad"u8);
        return true;
    }

    /// <summary>
    /// Appends the entries of one prefix directory that pass <see cref="IsChunkName"/> (of any file type; callers
    /// lstat). A missing prefix directory is skipped; any other error is a PbsException. Safe to call for different
    /// prefixes in parallel.
    /// </summary>
    public unsafe void ReadPrefixDir(int prefixIndex, List<ChunkEntry> into)
    {
        var dirPath = PrefixDirPath(prefixIndex);
        var fd = Libc.Open(dirPath, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        if (fd < 0)
        {
            var errno = Libc.LastErrno;
            if (errno == Libc.ENOENT) return;
            throw ReadDirError(prefixIndex, errno);
        }
        var buffer = ArrayPool<byte>.Shared.Rent(32 * 1024);
        try
        {
            fixed (byte* p = buffer)
            {
                while (true)
                {
                    var n = Libc.GetDents64(fd, p, buffer.Length);
                    if (n == 0) break;
                    if (n < 0)
                    {
                        var errno = Libc.LastErrno;
                        if (errno == Libc.EINTR) continue;
                        throw ReadDirError(prefixIndex, errno);
                    }
                    // struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name (NUL-terminated).
                    for (var pos = 0; pos < n;)
                    {
                        int reclen = *(ushort*)(p + pos + 16);
                        var nameSpan = new ReadOnlySpan<byte>(p + pos + 19, reclen - 19);
                        nameSpan = nameSpan[..nameSpan.IndexOf((byte)0)];
                        if (IsChunkName(nameSpan, out var isBad) && ChunkDigest.TryParseAscii(nameSpan[..64], out var digest))
                            into.Add(new ChunkEntry(Encoding.UTF8.GetString(nameSpan), digest, isBad, prefixIndex));
                        pos += reclen;
                    }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            Libc.Close(fd);
        }
    }

    /// <summary>
    /// Every chunk candidate in PBS's order: prefix directories `0000`..`ffff`, readdir order inside each.
    /// Reports progress and checks for abort once per prefix directory.
    /// </summary>
    public IEnumerable<ChunkEntry> IterateChunks(ITaskState? state = null)
    {
        state ??= NullTaskState.Instance;
        var entries = new List<ChunkEntry>();
        var lastPercentage = -1;
        for (var prefix = 0; prefix < PrefixCount; prefix++)
        {
            state.CheckAbort();
            var percentage = prefix * 100 / PrefixCount;
            if (percentage != lastPercentage)
            {
                state.Progress(1, "Chunk store", $"{ChunkDir}: {PrefixDirName(prefix)}", percentage);
                lastPercentage = percentage;
            }
            entries.Clear();
            ReadPrefixDir(prefix, entries);
            foreach (var entry in entries) yield return entry;
        }
        state.Complete(1, "Chunk store");
    }

    private PbsException ReadDirError(int prefixIndex, int errno)
        => new("ChunkDirReadFailed", errno == Libc.EACCES ? PbsErrorKind.PermissionDenied : PbsErrorKind.ReadError,
            $"unable to read subdir '{PrefixDirName(prefixIndex)}' - {Libc.StrError(errno)}", PrefixDirPath(prefixIndex));
}
