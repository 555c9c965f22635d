using System.Buffers;
using PbsDatastore.Core.Formats;

namespace PbsDatastore.Core.Backup;

/// <summary>A piece of the input cut out for one chunk; <see cref="Buffer"/> is rented and returned by the consumer.</summary>
internal readonly record struct RawChunk(byte[] Buffer, int Length, long Start)
{
    public ReadOnlySpan<byte> Data => Buffer.AsSpan(0, Length);
    public long End => Start + Length;
    public void Return() => ArrayPool<byte>.Shared.Return(Buffer);
}

/// <summary>Cuts an input stream into chunks: fixed-size pieces (fixed index) or buzhash cuts (dynamic index).</summary>
internal static class ChunkSource
{
    /// <summary>Consecutive <paramref name="chunkSize"/> pieces; the last one may be shorter.</summary>
    public static IEnumerable<RawChunk> Fixed(Stream input, int chunkSize, string inputName)
    {
        long start = 0;
        while (true)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(chunkSize);
            var n = ReadAtLeast(input, buffer.AsSpan(0, chunkSize), inputName);
            if (n == 0)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                yield break;
            }
            yield return new RawChunk(buffer, n, start);
            start += n;
            if (n < chunkSize)
                yield break;
        }
    }

    /// <summary>
    /// Chunks cut where PBS's chunker cuts (§4): the stream is read straight into the buffer of the current
    /// chunk; after a cut, the bytes read past it move to the next chunk's buffer.
    /// </summary>
    public static IEnumerable<RawChunk> Dynamic(Stream input, int averageChunkSize, string inputName)
    {
        const int ReadSize = 1 << 20;
        var chunker = new Chunker(averageChunkSize);
        var capacity = averageChunkSize * 4; // the chunker always cuts at the maximum chunk size
        var buffer = ArrayPool<byte>.Shared.Rent(capacity);
        int filled = 0, scanned = 0;
        long start = 0;
        var eof = false;
        while (true)
        {
            if (scanned == filled)
            {
                if (eof)
                    break;
                var n = ReadSome(input, buffer.AsSpan(filled, Math.Min(ReadSize, capacity - filled)), inputName);
                if (n == 0)
                {
                    eof = true;
                    continue;
                }
                filled += n;
            }
            var cut = chunker.Scan(buffer.AsSpan(scanned, filled - scanned));
            if (cut == 0)
            {
                scanned = filled;
                continue;
            }
            var end = scanned + cut;
            var next = ArrayPool<byte>.Shared.Rent(capacity);
            buffer.AsSpan(end, filled - end).CopyTo(next);
            yield return new RawChunk(buffer, end, start);
            start += end;
            buffer = next;
            filled -= end;
            scanned = 0;
        }
        if (filled > 0)
            yield return new RawChunk(buffer, filled, start);
        else
            ArrayPool<byte>.Shared.Return(buffer);
    }

    private static int ReadAtLeast(Stream input, Span<byte> destination, string inputName)
    {
        try { return input.ReadAtLeast(destination, destination.Length, throwOnEndOfStream: false); }
        catch (IOException e) { throw ReadFailed(inputName, e); }
    }

    private static int ReadSome(Stream input, Span<byte> destination, string inputName)
    {
        try { return input.Read(destination); }
        catch (IOException e) { throw ReadFailed(inputName, e); }
    }

    private static PbsException ReadFailed(string inputName, IOException e)
        => new("InputReadFailed", PbsErrorKind.ReadError, $"reading '{inputName}' failed: {e.Message}", inputName, e);
}
