using System.Buffers.Binary;
using System.Numerics;

namespace PbsDatastore.Core.Formats;

/// <summary>
/// A fixed index (.fidx): header with image size and chunk size, then one 32-byte digest per chunk.
/// </summary>
public sealed class FixedIndex : IndexFile
{
    /// <summary>First 8 bytes of SHA-256("Proxmox Backup fixed sized chunk index v1.0").</summary>
    public static ReadOnlySpan<byte> MagicBytes => [0x2f, 0x7f, 0x41, 0xed, 0x91, 0xfd, 0x0f, 0xcd];

    private FixedIndex(string path, byte[] data, int count, long size, long chunkSize) : base(path, data, count)
    {
        Size = size;
        ChunkSize = chunkSize;
    }

    public override IndexKind Kind => IndexKind.Fixed;
    public override int EntrySize => ChunkDigest.Size;
    private protected override int DigestOffset => 0;

    /// <summary>Logical image size from the header.</summary>
    public long Size { get; }

    /// <summary>Chunk size from the header (a power of two).</summary>
    public long ChunkSize { get; }

    public override long IndexBytes => Size;
    public override long IndexSize => Size;

    public new static FixedIndex Open(string path) => Parse(ReadAll(path), path);

    public new static FixedIndex Parse(byte[] data, string path)
    {
        CheckLength(data, path);
        if (!data.AsSpan(0, 8).SequenceEqual(MagicBytes)) throw BadMagic(path);
        var size = BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(64));
        var chunkSize = BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(72));
        // PBS divides by it and takes remainders with a bit mask: anything but a power of two is corrupt
        // (2^63 would not fit the signed sizes used everywhere else).
        if (chunkSize == 0 || !BitOperations.IsPow2(chunkSize) || chunkSize > long.MaxValue)
            throw new PbsException("IndexBadChunkSize", PbsErrorKind.InvalidData, $"invalid chunk size {chunkSize} in fixed index", path);
        var entriesBytes = (ulong)(data.Length - HeaderSize);
        var count = size / chunkSize + (size % chunkSize != 0 ? 1UL : 0UL);
        // A forged size can make count nearly 2^64: compare in UInt128 so the product cannot wrap into a match.
        var expected = (UInt128)count * ChunkDigest.Size;
        if (expected != entriesBytes || size > long.MaxValue)
            throw BadSize(path, expected > long.MaxValue ? long.MaxValue : (long)expected, (long)entriesBytes);
        return new FixedIndex(path, data, (int)count, (long)size, (long)chunkSize);
    }

    public override long ChunkStart(int index)
    {
        if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index));
        return index * ChunkSize;
    }

    public override long ChunkEnd(int index)
    {
        var start = ChunkStart(index);
        // start < Size, so this cannot overflow where (index + 1) * ChunkSize could.
        return start + Math.Min(ChunkSize, Size - start);
    }

    public override (int Index, long OffsetInChunk)? ChunkFromOffset(long offset)
        => offset < 0 || offset >= Size ? null : ((int)(offset / ChunkSize), offset & (ChunkSize - 1));
}
