using PbsDatastore.Core.Formats;

namespace PbsDatastore.Core.Store;

/// <summary>
/// The raw storage of one datastore: the only layer that touches chunk files, chunk directories and the snapshot
/// tree's files. <see cref="Hierarchy.Datastore"/> opens one per store (<see cref="Hierarchy.Datastore.Backend"/>);
/// GC, verify, space accounting, chunk references, export and ingest use nothing else. PBS calls this the
/// datastore backend (<c>backend type=filesystem|s3</c>); <see cref="FilesystemBackend"/> is the local one.
/// <para>
/// Contract for an implementation (an object store, a fault-injecting wrapper in tests):
/// </para>
/// <list type="bullet">
/// <item>Layout and names are PBS's (<see cref="ChunkLayout"/>): a chunk is <c>.chunks/&lt;4 hex&gt;/&lt;64 hex&gt;</c>,
/// a bad chunk adds <c>.N.bad</c>; an object store maps these to keys (<c>&lt;store&gt;/.chunks/…</c>, addendum §4.2).</item>
/// <item>Per-chunk calls (<see cref="TouchChunk"/>, <see cref="StatChunk"/>, <see cref="IStoreDirectory.Stat"/>,
/// <see cref="IStoreDirectory.Remove"/>) run once per chunk in GC's loops: they return an errno (0 success,
/// <c>ENOENT</c> missing) and never throw for a storage failure, so a million chunks cost no exception and no
/// string. An object store maps its failures to the nearest errno (404 → ENOENT, 403 → EACCES, else EIO) and
/// keeps its atimes as PBS does, on the local cache's marker files (addendum §4.3, §4.6).</item>
/// <item>Safe for concurrent use: GC touches and sweeps from several threads; each <see cref="IStoreDirectory"/>
/// belongs to one thread.</item>
/// <item>Paths given in and reported are relative to the datastore root with <c>/</c> separators, as raw bytes
/// (names need not be UTF-8); <see cref="BasePath"/> joins them for messages.</item>
/// <item>Stat is lstat, directories are opened without following a final symlink, nothing removed is reached through a symlink.</item>
/// </list>
/// </summary>
public interface IDatastoreBackend : IDisposable
{
    /// <summary>Datastore name, as PBS's messages name the store.</summary>
    string Name { get; }

    /// <summary>Absolute path of the datastore directory (for an object store: its local cache).</summary>
    string BasePath { get; }

    /// <summary>Display path of a chunk (messages, error targets): <c>&lt;base&gt;/.chunks/xxxx/&lt;hex&gt;&lt;suffix&gt;</c>.</summary>
    string ChunkPath(in ChunkDigest digest, string suffix = "");

    /// <summary>
    /// PBS's <c>cond_touch_chunk</c>: sets the atime of the chunk (with <paramref name="suffix"/>, e.g. <c>.0.bad</c>)
    /// to now, mtime kept; errno (ENOENT when missing).
    /// </summary>
    int TouchChunk(in ChunkDigest digest, ReadOnlySpan<byte> suffix);

    /// <summary>lstat of the chunk (with <paramref name="suffix"/>); errno (ENOENT or ENOTDIR when missing).</summary>
    int StatChunk(in ChunkDigest digest, ReadOnlySpan<byte> suffix, out ChunkFileStat stat);

    /// <summary>
    /// <see cref="TouchChunk"/> of each of <paramref name="digests"/>, all of the prefix directory
    /// <paramref name="prefix"/>, each one's errno into <paramref name="errnos"/>. A file system resolves the directory
    /// once for all of them instead of once per chunk (GC's phase 1 touches a directory at a time for this).
    /// </summary>
    void TouchChunks(int prefix, ReadOnlySpan<ChunkDigest> digests, Span<int> errnos)
    {
        for (var i = 0; i < digests.Length; i++) errnos[i] = TouchChunk(digests[i], default);
    }

    /// <summary>
    /// As <see cref="TouchChunks"/> with <see cref="StatChunk"/>, each one's lstat into <paramref name="stats"/> (a
    /// dry run's phase 1, space accounting).
    /// </summary>
    void StatChunks(int prefix, ReadOnlySpan<ChunkDigest> digests, Span<int> errnos, Span<ChunkFileStat> stats)
    {
        for (var i = 0; i < digests.Length; i++) errnos[i] = StatChunk(digests[i], default, out stats[i]);
    }

    /// <summary>
    /// Reads the raw blob of a chunk into a buffer rented from <see cref="System.Buffers.ArrayPool{T}.Shared"/> (the
    /// caller returns it); errno, EFBIG when the file is larger than <see cref="DataBlob.MaxRawSize"/>
    /// (<paramref name="length"/> then holds its size and no buffer is rented).
    /// </summary>
    int ReadChunk(in ChunkDigest digest, out byte[]? buffer, out long length);

    /// <summary>
    /// PBS's <c>insert_chunk</c> (§12.6): keeps (and touches) an existing chunk where PBS keeps it, else stores the
    /// blob atomically. The caller holds the shared chunk-store lock until an index referencing it is finished.
    /// </summary>
    ChunkInsertResult InsertChunk(in ChunkDigest digest, DataBlob blob, ITaskState? state = null);

    /// <summary>
    /// PBS's renaming of a corrupt chunk to the first free <c>.0.bad</c> … <c>.8.bad</c>, else over <c>.9.bad</c>
    /// (§8.5). Returns the new display path; null when the chunk was gone (silently) or the rename failed (logged).
    /// </summary>
    string? RenameCorruptChunk(in ChunkDigest digest, ITaskState state);

    /// <summary>
    /// Opens the prefix directory <c>.chunks/xxxx</c> for listing (GC's sweep, chunk iteration); errno (ENOENT when
    /// the prefix directory does not exist).
    /// </summary>
    int OpenChunkDirectory(int prefix, out IStoreDirectory? directory);

    /// <summary>Opens the datastore root for GC's index walk; errno.</summary>
    int OpenRoot(out IStoreDirectory? directory);

    /// <summary>
    /// Reads a whole file of the snapshot tree (an index) by its raw path relative to the root, without updating
    /// its atime where allowed and without blocking on a FIFO. Returns 0 and the bytes (<paramref name="spare"/>
    /// reused when it has the file's length), or an errno with <paramref name="opened"/> telling whether the open
    /// or the read failed. A file that shrank while being read is returned as read.
    /// </summary>
    int ReadFile(ReadOnlySpan<byte> relativePath, byte[]? spare, out byte[]? data, out bool opened);

    /// <summary>lstat of a file of the snapshot tree by its raw relative path; errno.</summary>
    int StatFile(ReadOnlySpan<byte> relativePath, out ChunkFileStat stat);

    /// <summary>
    /// Renames a file or directory of the snapshot tree (a snapshot moved to another group, a group's notes) without
    /// ever replacing an existing target; raw relative paths; errno (EEXIST when the target exists).
    /// </summary>
    int RenameNoReplace(string fromRelativePath, string toRelativePath);

    /// <summary>
    /// PBS ≥ 3.3.7's check that the storage really updates atimes (addendum §2.4): throws AtimeSafetyCheckFailed
    /// when it does not, since GC's sweep would then delete chunks in use.
    /// </summary>
    void CheckAtimeUpdates();
}

/// <summary>
/// One directory being listed (a chunk prefix directory or a directory of the snapshot tree). Entries come in
/// storage order without <c>.</c> and <c>..</c>; the calls on the current entry cost at most one storage call each.
/// </summary>
public interface IStoreDirectory : IDisposable
{
    /// <summary>The directory's raw path relative to the datastore root (<c>.chunks/00ab</c>, <c>ns/a/vm</c>, empty for the root).</summary>
    ReadOnlySpan<byte> RelativePath { get; }

    /// <summary>Advances to the next entry; false at the end or on an error (<see cref="Errno"/>).</summary>
    bool MoveNext();

    /// <summary>The errno that ended the listing, or 0.</summary>
    int Errno { get; }

    /// <summary>The current entry's raw name (no NUL).</summary>
    ReadOnlySpan<byte> Name { get; }

    /// <summary>The current entry's type as the listing tells it; <see cref="StoreEntryType.Unknown"/> means "stat it".</summary>
    StoreEntryType Type { get; }

    /// <summary>lstat of the current entry; errno.</summary>
    int Stat(out ChunkFileStat stat);

    /// <summary>Removes the current entry (a file); errno.</summary>
    int Remove();

    /// <summary>Opens the entry <paramref name="name"/> of this directory as a directory without following a symlink; errno (ENOTDIR, ELOOP when it is none).</summary>
    int OpenDirectory(ReadOnlySpan<byte> name, out IStoreDirectory? child);
}

/// <summary>What a directory listing says an entry is.</summary>
public enum StoreEntryType : byte
{
    Unknown,
    File,
    Directory,
    Symlink,
    Other,
}

/// <summary>lstat facts of a chunk or file (whole-second times, as PBS's GC compares them).</summary>
public readonly record struct ChunkFileStat(long Size, long AtimeSeconds, long MtimeSeconds, StoreEntryType Type, ulong Inode = 0)
{
    public bool IsRegularFile => Type == StoreEntryType.File;
    public bool IsDirectory => Type == StoreEntryType.Directory;
}

/// <summary>What <see cref="IDatastoreBackend.InsertChunk"/> did: kept an existing chunk (duplicate) or wrote this one.</summary>
public readonly record struct ChunkInsertResult(bool Duplicate, long EncodedSize);
