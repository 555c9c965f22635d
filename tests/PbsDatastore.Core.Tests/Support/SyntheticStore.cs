using System.Buffers.Binary;
using PbsDatastore.Core.Formats;

namespace PbsDatastore.Core.Tests.Support;

/// <summary>
/// A store made of raw index files and chunk files of chosen sizes (content irrelevant), for comparing the
/// accounting with a brute-force computation. Index checksums are left zero: nothing here verifies them.
/// </summary>
public sealed class SyntheticStore : IDisposable
{
    private readonly TempDir _dir = new("pbs-synth-");

    public SyntheticStore() => Directory.CreateDirectory(System.IO.Path.Combine(Path, ".chunks"));

    public string Path => _dir.Path;

    public string ChunkPath(ChunkDigest digest)
    {
        var hex = digest.ToString();
        return System.IO.Path.Combine(Path, ".chunks", hex[..4], hex);
    }

    public void WriteFile(string path, int size)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, new byte[size]);
    }

    /// <summary>A fixed index over <paramref name="digests"/> with the last chunk <paramref name="tail"/> bytes short.</summary>
    public void WriteFixed(string relativePath, IReadOnlyList<ChunkDigest> digests, long chunkSize, long tail = 0)
    {
        var data = new byte[IndexFile.HeaderSize + 32 * digests.Count];
        FixedIndex.MagicBytes.CopyTo(data);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(64), digests.Count * chunkSize - tail);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(72), chunkSize);
        for (var i = 0; i < digests.Count; i++) digests[i].WriteTo(data.AsSpan(IndexFile.HeaderSize + 32 * i));
        Write(relativePath, data);
    }

    /// <summary>A dynamic index whose chunk i is <paramref name="lengths"/>[i] bytes long.</summary>
    public void WriteDynamic(string relativePath, IReadOnlyList<ChunkDigest> digests, IReadOnlyList<long> lengths)
    {
        var data = new byte[IndexFile.HeaderSize + 40 * digests.Count];
        DynamicIndex.MagicBytes.CopyTo(data);
        long end = 0;
        for (var i = 0; i < digests.Count; i++)
        {
            end += lengths[i];
            BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(IndexFile.HeaderSize + 40 * i), end);
            digests[i].WriteTo(data.AsSpan(IndexFile.HeaderSize + 40 * i + 8));
        }
        Write(relativePath, data);
    }

    private void Write(string relativePath, byte[] data)
    {
        var path = System.IO.Path.Combine(Path, relativePath);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, data);
    }

    public static ChunkDigest RandomDigest(Random random)
    {
        Span<byte> bytes = stackalloc byte[32];
        random.NextBytes(bytes);
        return new ChunkDigest(bytes);
    }

    public void Dispose() => _dir.Dispose();
}
