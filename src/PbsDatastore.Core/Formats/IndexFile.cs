using System.Buffers.Binary;
using System.Security.Cryptography;

namespace PbsDatastore.Core.Formats;

public enum IndexKind
{
    Fixed,
    Dynamic,
}

/// <summary>
/// A fixed (.fidx) or dynamic (.didx) index file, read whole with one read so that walking every digest of
/// a large index costs no more than the read itself. Header and entries are exposed without copying.
/// </summary>
public abstract class IndexFile
{
    public const int HeaderSize = 4096;

    /// <summary>The whole file as read.</summary>
    private protected readonly byte[] Data;

    private protected IndexFile(string path, byte[] data, int count)
    {
        Path = path;
        Data = data;
        Count = count;
    }

    public string Path { get; }
    public abstract IndexKind Kind { get; }

    /// <summary>Bytes per entry: 32 (fixed: digest) or 40 (dynamic: end offset and digest).</summary>
    public abstract int EntrySize { get; }
    private protected abstract int DigestOffset { get; }

    /// <summary>Number of entries (PBS `index_count`).</summary>
    public int Count { get; }

    public long FileSize => Data.Length;
    public ReadOnlySpan<byte> Magic => Data.AsSpan(0, 8);
    public ReadOnlySpan<byte> Uuid => Data.AsSpan(8, 16);
    public string UuidHex => Convert.ToHexStringLower(Uuid);

    /// <summary>Creation time from the header (epoch seconds). PBS 3.2.4's dynamic reader reports "now" instead.</summary>
    public long CTime => BinaryPrimitives.ReadInt64LittleEndian(Data.AsSpan(24));

    /// <summary>The checksum stored in the header (zero in an unfinished `.tmp_*idx`).</summary>
    public ReadOnlySpan<byte> IndexCsum => Data.AsSpan(32, 32);

    /// <summary>The raw entry array, exactly what the index checksum covers.</summary>
    public ReadOnlySpan<byte> EntryBytes => Data.AsSpan(HeaderSize);

    /// <summary>SHA-256 over the raw entry array (PBS `compute_csum().0`).</summary>
    public byte[] ComputeCsum() => SHA256.HashData(EntryBytes);

    public bool CsumMatches => ComputeCsum().AsSpan().SequenceEqual(IndexCsum);

    /// <summary>Logical size of the archive (PBS `index_bytes`, equal to `compute_csum().1`).</summary>
    public abstract long IndexBytes { get; }

    /// <summary>PBS `index_size`: the image size for fixed indexes, the index file length for dynamic ones (a PBS quirk).</summary>
    public abstract long IndexSize { get; }

    public ReadOnlySpan<byte> GetDigest(int index)
    {
        if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index));
        return Data.AsSpan(HeaderSize + index * EntrySize + DigestOffset, ChunkDigest.Size);
    }

    public ChunkDigest DigestAt(int index) => new(GetDigest(index));

    /// <summary>Start of chunk <paramref name="index"/> in the logical stream.</summary>
    public abstract long ChunkStart(int index);

    /// <summary>End (exclusive) of chunk <paramref name="index"/> in the logical stream.</summary>
    public abstract long ChunkEnd(int index);

    public long ChunkLength(int index)
    {
        long start = ChunkStart(index), end = ChunkEnd(index);
        if (end < start)
            throw new PbsException("IndexBadEntry", PbsErrorKind.InvalidData, $"index entry {index} ends at {end} before it starts at {start}", Path);
        return end - start;
    }

    /// <summary>The chunk containing byte <paramref name="offset"/> and the offset inside it; null past the end.</summary>
    public abstract (int Index, long OffsetInChunk)? ChunkFromOffset(long offset);

    /// <summary>Opens either kind, chosen by the magic number.</summary>
    public static IndexFile Open(string path) => Parse(ReadAll(path), path);

    /// <summary>
    /// <see cref="Open(string)"/>, reading into <paramref name="buffer"/> when it has the file's length and else
    /// into a new array left there for the next call: successive backups of a disk have indexes of one length, and
    /// a fresh array for each is a large object the runtime frees late. The index is valid until the next call.
    /// </summary>
    public static IndexFile Open(string path, ref byte[]? buffer)
    {
        buffer = ReadAll(path, buffer);
        return Parse(buffer, path);
    }

    /// <summary>Parses file bytes (taken over, not copied) of either kind, chosen by the magic number.</summary>
    public static IndexFile Parse(byte[] data, string path)
    {
        CheckLength(data, path);
        var magic = data.AsSpan(0, 8);
        if (magic.SequenceEqual(FixedIndex.MagicBytes)) return FixedIndex.Parse(data, path);
        if (magic.SequenceEqual(DynamicIndex.MagicBytes)) return DynamicIndex.Parse(data, path);
        throw BadMagic(path);
    }

    private protected static void CheckLength(byte[] data, string path)
    {
        if (data.Length < HeaderSize)
            throw new PbsException("IndexTooShort", PbsErrorKind.InvalidData, $"index too small ({data.Length})", path);
    }

    private protected static PbsException BadMagic(string path)
        => new("IndexBadMagic", PbsErrorKind.InvalidData, "got unknown magic number", path);

    private protected static PbsException BadSize(string path, long expected, long actual)
        => new("IndexBadSize", PbsErrorKind.InvalidData, $"got unexpected file size ({expected} != {actual})", path);

    private protected static byte[] ReadAll(string path, byte[]? spare = null)
    {
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var length = RandomAccess.GetLength(handle);
            if (length > Array.MaxLength)
                throw new PbsException("IndexTooLarge", PbsErrorKind.InvalidData, $"index file too large ({length})", path);
            var data = spare?.Length == length ? spare : GC.AllocateUninitializedArray<byte>((int)length);
            var read = 0;
            while (read < data.Length)
            {
                var n = RandomAccess.Read(handle, data.AsSpan(read), read);
                if (n == 0) break;
                read += n;
            }
            // The file shrank while being read: what we have is the file now.
            return read == data.Length ? data : data[..read];
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new PbsException("IndexNotFound", PbsErrorKind.ObjectNotFound, $"Unable to open index \"{path}\" - not found", path, e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new PbsException("IndexAccessDenied", PbsErrorKind.PermissionDenied, $"Unable to open index \"{path}\" - {e.Message}", path, e);
        }
        catch (IOException e)
        {
            throw new PbsException("IndexReadError", PbsErrorKind.ReadError, $"Unable to open index \"{path}\" - {e.Message}", path, e);
        }
    }
}
