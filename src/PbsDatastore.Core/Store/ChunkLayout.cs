using System.Text;
using PbsDatastore.Core.Formats;

namespace PbsDatastore.Core.Store;

/// <summary>
/// PBS's chunk-store layout, named once: <c>.chunks</c> with 65536 prefix directories <c>0000</c>..<c>ffff</c>, a
/// chunk at <c>.chunks/&lt;first 4 hex&gt;/&lt;64 hex&gt;</c>, a bad chunk with <c>.N.bad</c> appended.
/// </summary>
public static class ChunkLayout
{
    public const int PrefixCount = 65536;
    public const string ChunkDirName = ".chunks";
    public const string LockFileName = ".lock";

    /// <summary>The suffixes GC touches for a missing chunk (<c>.0.bad</c> … <c>.9.bad</c>), as raw bytes.</summary>
    public static readonly byte[][] BadSuffixes = Enumerable.Range(0, 10).Select(n => Encoding.ASCII.GetBytes($".{n}.bad")).ToArray();

    public static string PrefixDirName(int prefixIndex) => prefixIndex.ToString("x4");

    /// <summary>Writes the 4 lowercase hex digits of a prefix index.</summary>
    public static void WritePrefix(int prefixIndex, Span<byte> target)
    {
        ReadOnlySpan<byte> hex = "0123456789abcdef"u8;
        target[0] = hex[(prefixIndex >> 12) & 15];
        target[1] = hex[(prefixIndex >> 8) & 15];
        target[2] = hex[(prefixIndex >> 4) & 15];
        target[3] = hex[prefixIndex & 15];
    }

    /// <summary>
    /// Writes <c>xxxx/&lt;64 hex&gt;[suffix]\0</c>, the chunk's path relative to <c>.chunks</c>, into
    /// <paramref name="target"/> (at least 70 bytes plus the suffix); returns the length including the NUL.
    /// </summary>
    public static int WriteChunkPath(in ChunkDigest digest, ReadOnlySpan<byte> suffix, Span<byte> target)
    {
        Span<byte> raw = stackalloc byte[ChunkDigest.Size];
        digest.WriteTo(raw);
        // Vectorized; once per chunk in GC's mark and in space accounting.
        Convert.TryToHexStringLower(raw, target[5..69], out _);
        target[5..9].CopyTo(target);
        target[4] = (byte)'/';
        suffix.CopyTo(target[69..]);
        target[69 + suffix.Length] = 0;
        return 70 + suffix.Length;
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
    /// A chunk writer's temp file: <c>&lt;64 hex&gt;.tmp_XXXXXX</c> (PBS's and <see cref="AtomicFile"/>'s
    /// <c>replace_file</c> name for a chunk), left behind when the writer was killed.
    /// </summary>
    public static bool IsChunkTempName(ReadOnlySpan<byte> name)
    {
        if (name.Length <= 69 || !name[64..].StartsWith(".tmp_"u8)) return false;
        foreach (var b in name[..64])
            if (!char.IsAsciiHexDigit((char)b)) return false;
        return true;
    }

    /// <summary>Whether a name's first 64 bytes are lowercase hex: the only spelling GC's phase 1 touches.</summary>
    public static bool TryParseLowerHex(ReadOnlySpan<byte> name, out ChunkDigest digest)
    {
        digest = default;
        if (name.Length < 64) return false;
        foreach (var c in name[..64])
            if (c is >= (byte)'A' and <= (byte)'F') return false;
        return ChunkDigest.TryParseAscii(name[..64], out digest);
    }
}

/// <summary>A directory entry of `.chunks/xxxx/` that passes PBS 3.2.4's chunk-name test.</summary>
/// <param name="Name">File name (64 hex digits, or 70 bytes ending in e.g. `.0.bad`).</param>
/// <param name="Digest">The digest spelled by the first 64 characters.</param>
/// <param name="IsBad">The name ends with `.bad`.</param>
/// <param name="PrefixIndex">Index 0..65535 of the prefix directory the entry was found in.</param>
public readonly record struct ChunkEntry(string Name, ChunkDigest Digest, bool IsBad, int PrefixIndex)
{
    public string PrefixDirName => ChunkLayout.PrefixDirName(PrefixIndex);

    /// <summary>The chunk's suffix after the 64 hex digits (e.g. <c>.0.bad</c>), as raw bytes.</summary>
    public byte[] Suffix => Encoding.UTF8.GetBytes(Name[64..]);
}

/// <summary>Chunk iteration over any backend (listing, chunk references, tests).</summary>
public static class ChunkIteration
{
    /// <summary>
    /// Appends the entries of one prefix directory that pass <see cref="ChunkLayout.IsChunkName"/> (of any file
    /// type; callers stat). A missing prefix directory is skipped; any other error is a PbsException. Safe to call
    /// for different prefixes in parallel.
    /// </summary>
    public static void ReadPrefixDir(this IDatastoreBackend store, int prefixIndex, List<ChunkEntry> into)
    {
        var errno = store.OpenChunkDirectory(prefixIndex, out var dir);
        if (errno == Native.Libc.ENOENT) return;
        if (errno != 0) throw ReadDirError(store, prefixIndex, errno);
        using (dir)
        {
            while (dir!.MoveNext())
            {
                var name = dir.Name;
                if (ChunkLayout.IsChunkName(name, out var isBad) && ChunkDigest.TryParseAscii(name[..64], out var digest))
                    into.Add(new ChunkEntry(Encoding.UTF8.GetString(name), digest, isBad, prefixIndex));
            }
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
