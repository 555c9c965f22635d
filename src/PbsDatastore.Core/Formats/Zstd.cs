using System.Buffers;
using System.Collections.Concurrent;
using ZstdSharp;
using ZstdSharp.Unsafe;

namespace PbsDatastore.Core.Formats;

/// <summary>zstd as PBS 3.2.4 uses it: level 1, two framings, and a decoder for any sequence of frames.</summary>
internal static class Zstd
{
    private const int Level = 1;

    // PBS's largest chunk (16 MiB): frames bounded by this always take the fast decoding path.
    private const long FastPathBound = 16 * 1024 * 1024;

    // A compression context sets up about a megabyte of tables: idle ones are kept for the next chunk.
    private static readonly ConcurrentBag<Compressor> IdleStreaming = new();

    /// <summary>
    /// Streaming encoder (plain compressed blobs): one frame without content size, as PBS 3.2.4 writes. The frame
    /// starts at <paramref name="headerRoom"/> in the returned array (room for a blob header, written by the caller).
    /// </summary>
    public static byte[] CompressStreaming(ReadOnlySpan<byte> data, int headerRoom = 0)
    {
        if (!IdleStreaming.TryTake(out var compressor)) compressor = new Compressor(Level);
        var scratch = ArrayPool<byte>.Shared.Rent(checked((int)Methods.ZSTD_compressBound((nuint)data.Length)) + 64);
        try
        {
            // The input goes in as stream data, then the frame is ended with no input, exactly as a stream
            // encoder's write and close do: a first call that also ended the frame would record the content size.
            int read = 0, written = 0;
            while (read < data.Length)
            {
                compressor.WrapStream(data[read..], scratch.AsSpan(written), out var consumed, out var produced, isFinalBlock: false);
                read += consumed;
                written += produced;
            }
            while (true)
            {
                var status = compressor.FlushStream(scratch.AsSpan(written), out var produced, isFinalBlock: true);
                written += produced;
                if (status == OperationStatus.Done) break;
            }
            var result = GC.AllocateUninitializedArray<byte>(headerRoom + written);
            scratch.AsSpan(0, written).CopyTo(result.AsSpan(headerRoom));
            compressor.ResetStream();
            IdleStreaming.Add(compressor);
            compressor = null;
            return result;
        }
        finally
        {
            compressor?.Dispose();
            ArrayPool<byte>.Shared.Return(scratch);
        }
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

        // Fast path: one-pass decoding straight into a buffer of the frames' upper bound (block count × block size
        // when a frame has no content size), about three times faster than streaming. Bounds that a damaged header
        // could inflate beyond any chunk go the streaming way, which enforces the limit byte-exactly.
        var bound = DecompressBound(input);
        if (bound <= (ulong)Math.Min(maxOutput, Math.Max(FastPathBound, 64L * input.Length)))
        {
            var buffer = new byte[bound];
            try
            {
                var n = decompressor.Unwrap(input, buffer);
                return n == buffer.Length ? buffer : buffer.AsSpan(0, n).ToArray();
            }
            catch (ZstdException)
            {
                return null;
            }
        }

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

    /// <summary>Upper bound of the decoded size of all frames, or ulong.MaxValue-1 (ZSTD_CONTENTSIZE_ERROR) if malformed.</summary>
    private static unsafe ulong DecompressBound(ReadOnlySpan<byte> input)
    {
        fixed (byte* p = input)
            return ZstdSharp.Unsafe.Methods.ZSTD_decompressBound(p, (nuint)input.Length);
    }
}
