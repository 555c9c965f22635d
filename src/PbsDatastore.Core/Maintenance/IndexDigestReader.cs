using System.Buffers.Binary;
using PbsDatastore.Core.Native;

namespace PbsDatastore.Core.Maintenance;

/// <summary>
/// Streams the digests of one index file for GC's marking in fixed-size blocks (no per-entry allocation, memory
/// bounded whatever the index size), with the header and size checks of §3.1/§3.2. The type follows the extension,
/// as PBS opens <c>.fidx</c> with the fixed reader and <c>.didx</c> with the dynamic one.
/// </summary>
internal sealed class IndexDigestReader
{
    private const int HeaderSize = 4096;
    private static readonly byte[] FixedMagic = Convert.FromHexString("2f7f41ed91fd0fcd");
    private static readonly byte[] DynamicMagic = Convert.FromHexString("1c914ea519bab3cd");

    // A multiple of both entry sizes (32 and 40 bytes).
    private readonly byte[] _buffer = new byte[40 * 32 * 1024];

    /// <summary>Outcome of opening an index.</summary>
    public enum OpenResult { Ok, Vanished }

    /// <summary>
    /// Reads the index at <paramref name="relativePathZ"/> (NUL-terminated, relative to <paramref name="storeFd"/>) and
    /// calls <paramref name="onDigests"/> with blocks of entries (digest at offset <c>stride-32</c> of each entry).
    /// Returns <see cref="OpenResult.Vanished"/> when the file no longer exists; <paramref name="indexBytes"/> is
    /// PBS's <c>index_bytes()</c>. Throws <see cref="PbsException"/> with PBS's abort messages otherwise.
    /// </summary>
    public unsafe OpenResult Read(int storeFd, ReadOnlySpan<byte> relativePathZ, bool isFixed, string displayPath,
        Action<ReadOnlySpan<byte>, int> onDigests, out long indexBytes)
    {
        indexBytes = 0;
        int fd;
        fixed (byte* p = relativePathZ) fd = Libc.OpenReadNoAtime(storeFd, p, 0);
        if (fd < 0)
        {
            var errno = -fd;
            if (errno == Libc.ENOENT) return OpenResult.Vanished;
            throw new PbsException("GcIndexOpenFailed", PbsErrorKind.ReadError, $"can't open index {displayPath} - {Libc.StrError(errno)}", displayPath);
        }
        try
        {
            Libc.Statx st;
            byte emptyPath = 0;
            if (Libc.StatxAt(fd, &emptyPath, Libc.AT_EMPTY_PATH, Libc.STATX_BASIC_STATS, &st) != 0)
                throw Unreadable(displayPath, Libc.StrError(Libc.LastErrno));
            var length = (long)st.Size;
            if (length < HeaderSize)
                throw Unreadable(displayPath, $"index too small ({length})");
            ReadExactly(fd, _buffer.AsSpan(0, HeaderSize), displayPath);
            var header = _buffer.AsSpan(0, HeaderSize);
            int stride;
            long entryCount;
            if (isFixed)
            {
                if (!header[..8].SequenceEqual(FixedMagic)) throw Unreadable(displayPath, "got unknown magic number");
                var size = BinaryPrimitives.ReadUInt64LittleEndian(header[64..]);
                var chunkSize = BinaryPrimitives.ReadUInt64LittleEndian(header[72..]);
                if (chunkSize == 0 || (chunkSize & (chunkSize - 1)) != 0)
                    throw Unreadable(displayPath, $"invalid chunk size {chunkSize}");
                stride = 32;
                entryCount = (long)((size + chunkSize - 1) / chunkSize);
                var expected = entryCount * stride;
                if (expected != length - HeaderSize)
                    throw Unreadable(displayPath, $"got unexpected file size ({expected} != {length - HeaderSize})");
                indexBytes = (long)size;
            }
            else
            {
                if (!header[..8].SequenceEqual(DynamicMagic)) throw Unreadable(displayPath, "got unknown magic number");
                stride = 40;
                if ((length - HeaderSize) % stride != 0)
                    throw Unreadable(displayPath, "got unexpected file size");
                entryCount = (length - HeaderSize) / stride;
            }
            var remaining = entryCount * stride;
            var block = _buffer.Length / stride * stride;
            while (remaining > 0)
            {
                var n = (int)Math.Min(block, remaining);
                ReadExactly(fd, _buffer.AsSpan(0, n), displayPath);
                if (!isFixed) indexBytes = (long)BinaryPrimitives.ReadUInt64LittleEndian(_buffer.AsSpan(n - stride));
                onDigests(_buffer.AsSpan(0, n), stride);
                remaining -= n;
            }
            return OpenResult.Ok;
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    private static unsafe void ReadExactly(int fd, Span<byte> target, string displayPath)
    {
        fixed (byte* p = target)
        {
            var done = 0;
            while (done < target.Length)
            {
                var n = Libc.Read(fd, p + done, target.Length - done);
                if (n < 0)
                {
                    var errno = Libc.LastErrno;
                    if (errno == Libc.EINTR) continue;
                    throw Unreadable(displayPath, Libc.StrError(errno));
                }
                if (n == 0) throw Unreadable(displayPath, "unexpected end of file (index changed while reading)");
                done += (int)n;
            }
        }
    }

    private static PbsException Unreadable(string path, string detail)
        => new("GcIndexUnreadable", PbsErrorKind.InvalidData, $"can't read index '{path}' - {detail}", path);
}
