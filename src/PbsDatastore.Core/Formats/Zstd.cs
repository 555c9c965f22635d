using System.Buffers;
using ZstdSharp;

namespace PbsDatastore.Core.Formats;

/// <summary>zstd as PBS 3.2.4 uses it: level 1, two framings, and a decoder for any sequence of frames.</summary>
internal static class Zstd
{
    private const int Level = 1;

    /// <summary>Streaming encoder (plain compressed blobs): one frame without content size, as PBS 3.2.4 writes.</summary>
    public static byte[] CompressStreaming(ReadOnlySpan<byte> data)
    {
        var output = new MemoryStream();
        using (var stream = new CompressionStream(output, Level, 0, true))
            stream.Write(data);
        return output.ToArray();
    }

    /// <summary>Single-shot encoder (encrypted compressed blobs): one single-segment frame carrying the content size.</summary>
    public static byte[] CompressBulk(ReadOnlySpan<byte> data)
    {
        using var compressor = new Compressor(Level);
        return compressor.Wrap(data).ToArray();
    }

    /// <summary>
    /// Decodes all concatenated frames of <paramref name="input"/>. Returns null for malformed or truncated input;
    /// throws <see cref="PbsException"/> (BlobTooLarge) once the output would exceed <paramref name="maxOutput"/>.
    /// An empty input decodes to no data, as PBS's stream decoder does.
    /// </summary>
    public static byte[]? TryDecompress(ReadOnlySpan<byte> input, int maxOutput, object? target)
    {
        if (input.IsEmpty) return [];
        using var decompressor = new Decompressor();
        var output = new byte[Math.Min(maxOutput, Math.Max(64 * 1024, input.Length * 4))];
        int read = 0, written = 0;
        try
        {
            var grow = false;
            while (true)
            {
                if (grow || written == output.Length)
                {
                    if (output.Length >= maxOutput)
                        throw new PbsException("BlobTooLarge", PbsErrorKind.InvalidData,
                            $"decompressed blob data exceeds {maxOutput} bytes.", target);
                    Array.Resize(ref output, (int)Math.Min(maxOutput, 2L * output.Length));
                }
                var status = decompressor.UnwrapStream(input[read..], output.AsSpan(written), out var consumed, out var produced);
                read += consumed;
                written += produced;
                if (status == OperationStatus.Done && read == input.Length)
                    return output.AsSpan(0, written).ToArray();
                if (status == OperationStatus.InvalidData)
                    return null;
                // Done with input left: the next frame follows. Otherwise each call must make progress; without
                // any, the output is too small (grow it) or the input ends inside a frame (truncated).
                var stalled = consumed == 0 && produced == 0;
                if (stalled && status != OperationStatus.DestinationTooSmall)
                    return null;
                grow = stalled;
            }
        }
        catch (ZstdException)
        {
            return null;
        }
    }
}
