using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;

namespace PbsDatastore.Core.Formats;

/// <summary>
/// Writes a fixed index (.fidx) as PBS does: digests may arrive in any order (slot by slot); slots never written
/// stay zero and are hashed as such.
/// </summary>
public sealed class FixedIndexWriter : IndexWriter
{
    private readonly byte[] _entries;

    private FixedIndexWriter(string path, long size, long chunkSize, int count, ReadOnlySpan<byte> uuid, long? ctime)
        : base(path, "tmp_fidx", FixedIndex.MagicBytes, uuid, ctime)
    {
        Size = size;
        ChunkSize = chunkSize;
        Count = count;
        _entries = new byte[count * ChunkDigest.Size];
        BinaryPrimitives.WriteUInt64LittleEndian(Header.AsSpan(64), (ulong)size);
        BinaryPrimitives.WriteUInt64LittleEndian(Header.AsSpan(72), (ulong)chunkSize);
        // The temp file has its final length from the start, as PBS's mapped writer leaves it.
        WriteOrFail(Header);
        WriteOrFail(_entries);
        Flush();
    }

    /// <summary>
    /// Starts `&lt;path without last extension&gt;.tmp_fidx` for an image of <paramref name="size"/> bytes.
    /// uuid (16 bytes) and ctime default to random and now; pass them to reproduce a file.
    /// </summary>
    public static FixedIndexWriter Create(string path, long size, long chunkSize, ReadOnlySpan<byte> uuid = default, long? ctime = null)
    {
        if (chunkSize <= 0 || !BitOperations.IsPow2(chunkSize))
            throw new PbsException("IndexBadChunkSize", PbsErrorKind.InvalidArgument, $"chunk size {chunkSize} is not a power of two", path);
        // PBS cannot map (and so never writes, nor reads back) a fixed index of an empty image.
        if (size <= 0)
            throw new PbsException("IndexInvalidSize", PbsErrorKind.InvalidArgument, $"invalid index size {size}", path);
        var count = (size + chunkSize - 1) / chunkSize;
        if (count > (Array.MaxLength / ChunkDigest.Size))
            throw new PbsException("IndexInvalidSize", PbsErrorKind.InvalidArgument, $"image size {size} needs too many chunks of {chunkSize} bytes", path);
        return new FixedIndexWriter(path, size, chunkSize, (int)count, uuid, ctime);
    }

    public long Size { get; }
    public long ChunkSize { get; }
    public int Count { get; }

    /// <summary>Puts <paramref name="digest"/> into slot <paramref name="index"/>.</summary>
    public void AddDigest(int index, ChunkDigest digest)
    {
        CheckOpen();
        if ((uint)index >= (uint)Count)
            throw new PbsException("IndexOutOfRange", PbsErrorKind.InvalidArgument, $"add digest failed - index out of range ({index} >= {Count})", Path);
        digest.WriteTo(_entries.AsSpan(index * ChunkDigest.Size));
    }

    /// <summary>
    /// Adds the chunk ending at <paramref name="end"/> with <paramref name="length"/> bytes, with PBS's checks: only
    /// the chunk ending at the image end may be shorter than the chunk size, and it must start on a chunk boundary.
    /// </summary>
    public void AddChunk(long end, long length, ChunkDigest digest)
    {
        CheckOpen();
        if (end < length || length < 0)
            throw BadChunk($"got chunk with small offset ({end} < {length})");
        if (end > Size)
            throw BadChunk($"chunk data exceeds size ({end} >= {Size})");
        if ((end != Size && length != ChunkSize) || length > ChunkSize || length == 0)
            throw BadChunk($"chunk with unexpected length ({length} != {ChunkSize})");
        var start = end - length;
        if ((start & (ChunkSize - 1)) != 0)
            throw BadChunk($"got unaligned chunk (pos = {start})");
        AddDigest((int)(start / ChunkSize), digest);
    }

    private PbsException BadChunk(string message) => new("IndexBadChunk", PbsErrorKind.InvalidArgument, message, Path);

    private protected override byte[] FinishEntries()
    {
        Stream.Position = IndexFile.HeaderSize;
        WriteOrFail(_entries);
        return SHA256.HashData(_entries);
    }
}
