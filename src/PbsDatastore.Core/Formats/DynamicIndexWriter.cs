using System.Buffers.Binary;
using System.Security.Cryptography;

namespace PbsDatastore.Core.Formats;

/// <summary>
/// Writes a dynamic index (.didx) as PBS does: entries (end offset, digest) are appended in stream order and fed
/// into a running SHA-256.
/// </summary>
public sealed class DynamicIndexWriter : IndexWriter
{
    private readonly IncrementalHash _csum = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly byte[] _entry = new byte[DynamicIndex.EntryBytesPerChunk];

    private DynamicIndexWriter(string path, ReadOnlySpan<byte> uuid, long? ctime)
        : base(path, "tmp_didx", DynamicIndex.MagicBytes, uuid, ctime)
        => WriteOrFail(Header);

    /// <summary>Starts `&lt;path without last extension&gt;.tmp_didx`; uuid and ctime default to random and now.</summary>
    public static DynamicIndexWriter Create(string path, ReadOnlySpan<byte> uuid = default, long? ctime = null)
        => new(path, uuid, ctime);

    public int Count { get; private set; }

    /// <summary>End offset of the last chunk added (the archive size so far).</summary>
    public long End { get; private set; }

    /// <summary>Appends the chunk that ends at <paramref name="end"/> in the stream.</summary>
    public void AddChunk(long end, ChunkDigest digest)
    {
        CheckOpen();
        if (end < End)
            throw new PbsException("IndexBadChunk", PbsErrorKind.InvalidArgument, $"chunk end {end} lies before the previous end {End}", Path);
        BinaryPrimitives.WriteUInt64LittleEndian(_entry, (ulong)end);
        digest.WriteTo(_entry.AsSpan(8));
        WriteOrFail(_entry);
        _csum.AppendData(_entry);
        End = end;
        Count++;
    }

    private protected override byte[] FinishEntries()
    {
        // PBS would write it, but neither PBS's reader nor its GC can open a dynamic index without entries.
        if (Count == 0)
            throw new PbsException("IndexEmpty", PbsErrorKind.InvalidOperation,
                "refusing to write a dynamic index without chunks: PBS cannot read one and its garbage collection would abort", Path);
        return _csum.GetHashAndReset();
    }
}
