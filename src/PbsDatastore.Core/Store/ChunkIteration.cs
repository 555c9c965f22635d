using System.Text;
using PbsDatastore.Core.Formats;

namespace PbsDatastore.Core.Store;

/// <summary>Chunk iteration over any backend (listing, chunk references, tests).</summary>
public static class ChunkIteration
{
    /// <summary>
    /// Appends the entries of one prefix directory that pass <see cref="ChunkLayout.IsChunkName"/> (of any file
    /// type; callers stat). A missing prefix directory is skipped; any other error is a PbsException. Safe to call
    /// for different prefixes in parallel.
    /// </summary>
    public static void ReadPrefixDir(this IDatastoreBackend store, int prefixIndex, List<ChunkEntry> into)
        => ReadNames(store, prefixIndex, name =>
        {
            if (ChunkLayout.IsChunkName(name, out var isBad) && ChunkDigest.TryParseAscii(name[..64], out var digest))
                into.Add(new ChunkEntry(Encoding.UTF8.GetString(name), digest, isBad, prefixIndex));
        });

    /// <summary>
    /// Calls <paramref name="onChunk"/> for each chunk file name of one prefix directory that GC's touch finds:
    /// exactly 64 lowercase hex digits (no `.bad` file, no upper-case spelling). Makes no strings, for a pass over
    /// every chunk of a large store. Errors and concurrency as <see cref="ReadPrefixDir"/>.
    /// </summary>
    public static void ReadChunkNames(this IDatastoreBackend store, int prefixIndex, Action<ChunkDigest> onChunk)
        => ReadNames(store, prefixIndex, name =>
        {
            if (name.Length == 64 && ChunkLayout.TryParseLowerHex(name, out var digest)) onChunk(digest);
        });

    private delegate void NameVisitor(ReadOnlySpan<byte> name);

    private static void ReadNames(IDatastoreBackend store, int prefixIndex, NameVisitor visit)
    {
        var errno = store.OpenChunkDirectory(prefixIndex, out var dir);
        if (errno == Native.Libc.ENOENT) return;
        if (errno != 0) throw ReadDirError(store, prefixIndex, errno);
        using (dir)
        {
            while (dir!.MoveNext()) visit(dir.Name);
            if (dir.Errno != 0) throw ReadDirError(store, prefixIndex, dir.Errno);
        }
    }

    /// <summary>
    /// Every chunk candidate in PBS's order: prefix directories `0000`..`ffff`, readdir order inside each.
    /// Reports progress and checks for abort once per prefix directory.
    /// </summary>
    public static IEnumerable<ChunkEntry> IterateChunks(this IDatastoreBackend store, ITaskState? state = null)
    {
        state ??= NullTaskState.Instance;
        var entries = new List<ChunkEntry>();
        var lastPercentage = -1;
        for (var prefix = 0; prefix < ChunkLayout.PrefixCount; prefix++)
        {
            state.CheckAbort();
            var percentage = prefix * 100 / ChunkLayout.PrefixCount;
            if (percentage != lastPercentage)
            {
                state.Progress(1, "Chunk store", $"{Path.Combine(store.BasePath, ChunkLayout.ChunkDirName)}: {ChunkLayout.PrefixDirName(prefix)}", percentage);
                lastPercentage = percentage;
            }
            entries.Clear();
            store.ReadPrefixDir(prefix, entries);
            foreach (var entry in entries) yield return entry;
        }
        state.Complete(1, "Chunk store");
    }

    /// <summary>lstat of a listed entry; null when it vanished.</summary>
    public static ChunkFileStat? Stat(this IDatastoreBackend store, in ChunkEntry entry)
    {
        var errno = store.StatChunk(entry.Digest, entry.Suffix, out var st);
        if (errno is Native.Libc.ENOENT or Native.Libc.ENOTDIR) return null;
        if (errno != 0) throw StatFailed(store.ChunkPath(entry.Digest, entry.Name[64..]), errno);
        return st;
    }

    /// <summary>lstat of a chunk; null when it does not exist.</summary>
    public static ChunkFileStat? Stat(this IDatastoreBackend store, in ChunkDigest digest)
    {
        var errno = store.StatChunk(digest, default, out var st);
        if (errno is Native.Libc.ENOENT or Native.Libc.ENOTDIR) return null;
        if (errno != 0) throw StatFailed(store.ChunkPath(digest), errno);
        return st;
    }

    /// <summary>The raw blob bytes of a chunk (ChunkNotFound, ChunkReadFailed).</summary>
    public static byte[] LoadChunk(this IDatastoreBackend store, in ChunkDigest digest)
    {
        var errno = store.ReadChunk(digest, out var buffer, out var length);
        if (errno == 0)
        {
            var data = buffer.AsSpan(0, (int)length).ToArray();
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer!);
            return data;
        }
        var path = store.ChunkPath(digest);
        if (errno is Native.Libc.ENOENT or Native.Libc.ENOTDIR)
            throw new PbsException("ChunkNotFound", PbsErrorKind.ObjectNotFound, $"chunk {digest} not found on store '{store.Name}'", path);
        throw new PbsException("ChunkReadFailed", errno is Native.Libc.EACCES or Native.Libc.EPERM ? PbsErrorKind.PermissionDenied : PbsErrorKind.ReadError,
            $"unable to read chunk {digest} on store '{store.Name}' - {Native.Libc.StrError(errno)}", path);
    }

    /// <summary>PBS's <c>cond_touch_chunk</c>: false if missing and not <paramref name="assertExists"/>; ChunkTouchFailed otherwise.</summary>
    public static bool CondTouchChunk(this IDatastoreBackend store, in ChunkDigest digest, bool assertExists)
    {
        var errno = store.TouchChunk(digest, default);
        if (errno == 0) return true;
        if (errno == Native.Libc.ENOENT && !assertExists) return false;
        var path = store.ChunkPath(digest);
        throw new PbsException("ChunkTouchFailed",
            errno switch { Native.Libc.ENOENT => PbsErrorKind.ObjectNotFound, Native.Libc.EPERM or Native.Libc.EACCES => PbsErrorKind.PermissionDenied, _ => PbsErrorKind.WriteError },
            $"update atime failed for chunk/file \"{path}\" - {Native.Libc.StrError(errno)}", path);
    }

    internal static PbsException StatFailed(string path, int errno)
        => new("ChunkStatFailed", errno == Native.Libc.EACCES ? PbsErrorKind.PermissionDenied : PbsErrorKind.ReadError,
            $"unable to stat \"{path}\" - {Native.Libc.StrError(errno)}", path);

    private static PbsException ReadDirError(IDatastoreBackend store, int prefixIndex, int errno)
        => new("ChunkDirReadFailed", errno == Native.Libc.EACCES ? PbsErrorKind.PermissionDenied : PbsErrorKind.ReadError,
            $"unable to read subdir '{ChunkLayout.PrefixDirName(prefixIndex)}' - {Native.Libc.StrError(errno)}",
            Path.Combine(store.BasePath, ChunkLayout.ChunkDirName, ChunkLayout.PrefixDirName(prefixIndex)));
}
