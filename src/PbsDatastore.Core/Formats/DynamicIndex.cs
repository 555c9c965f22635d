using System.Buffers.Binary;

namespace PbsDatastore.Core.Formats;

/// <summary>
/// A dynamic index (.didx): header, then 40-byte entries (cumulative end offset, digest).
/// </summary>
public sealed class DynamicIndex : IndexFile
{
    public const int EntryBytesPerChunk = 40;

    /// <summary>First 8 bytes of SHA-256("Proxmox Backup dynamic sized chunk index v1.0").</summary>
    public static ReadOnlySpan<byte> MagicBytes => [0x1c, 0x91, 0x4e, 0xa5, 0x19, 0xba, 0xb3, 0xcd];

    private DynamicIndex(string path, byte[] data, int count) : base(path, data, count) { }

    public override IndexKind Kind => IndexKind.Dynamic;
    public override int EntrySize => EntryBytesPerChunk;
    private protected override int DigestOffset => 8;

    /// <summary>End of the last chunk; 0 for an empty index (PBS itself cannot open one).</summary>
    public override long IndexBytes => Count == 0 ? 0 : ChunkEnd(Count - 1);

    /// <summary>PBS quirk: the dynamic index reports its file length as `index_size`.</summary>
    public override long IndexSize => FileSize;

    public new static DynamicIndex Open(string path) => Parse(ReadAll(path), path);

    public new static DynamicIndex Parse(byte[] data, string path)
    {
        CheckLength(data, path);
        if (!data.AsSpan(0, 8).SequenceEqual(MagicBytes)) throw BadMagic(path);
        var entriesBytes = data.Length - HeaderSize;
        var count = entriesBytes / EntryBytesPerChunk;
        if (entriesBytes % EntryBytesPerChunk != 0)
            throw BadSize(path, (long)count * EntryBytesPerChunk, entriesBytes);
        return new DynamicIndex(path, data, count);
    }

    public override long ChunkStart(int index)
    {
        if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index));
        return index == 0 ? 0 : ChunkEnd(index - 1);
    }

    public override long ChunkEnd(int index)
    {
        if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index));
        var end = BinaryPrimitives.ReadUInt64LittleEndian(Data.AsSpan(HeaderSize + index * EntryBytesPerChunk));
        if (end > long.MaxValue)
            throw new PbsException("IndexBadEntry", PbsErrorKind.InvalidData, $"index entry {index} has impossible end offset {end}", Path);
        return (long)end;
    }

    /// <summary>PBS's binary search over (start, end] ranges; null past the end and for an empty index.</summary>
    public override (int Index, long OffsetInChunk)? ChunkFromOffset(long offset)
    {
        if (Count == 0) return null;
        int lo = 0, hi = Count - 1;
        long start = 0, end = ChunkEnd(hi);
        while (true)
        {
            if (offset >= end || offset < start) return null;
            if (lo == hi) return (lo, offset - start);
            var mid = (lo + hi) / 2;
            var midEnd = ChunkEnd(mid);
            if (offset < midEnd)
            {
                hi = mid;
                end = midEnd;
            }
            else
            {
                lo = mid + 1;
                start = midEnd;
            }
        }
    }
}
