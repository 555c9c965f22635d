using PbsDatastore.Core.Formats;
using ZstdSharp;

namespace PbsDatastore.Core.Tests.Formats;

public class ZstdTests
{
    /// <summary>Text, random and zero runs: several 128 KiB blocks, matches across the 512 KiB window.</summary>
    private static byte[] Mixed(int length, int seed)
    {
        var random = new Random(seed);
        var data = new byte[length];
        for (var at = 0; at < length; at += 100_000)
        {
            var run = data.AsSpan(at, Math.Min(100_000, length - at));
            switch (at / 100_000 % 3)
            {
                case 0: random.NextBytes(run); break;
                case 1: for (var i = 0; i < run.Length; i++) run[i] = (byte)('a' + random.Next(12)); break;
            }
        }
        return data;
    }

    /// <summary>The frames a zstd stream encoder writes (PBS 3.2.4's encoder for plain blobs): written, then closed.</summary>
    private static byte[] StreamEncoder(byte[] data)
    {
        var output = new MemoryStream();
        using (var stream = new CompressionStream(output, 1, 0, true))
            stream.Write(data);
        return output.ToArray();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2000)]
    [InlineData(200_000)]
    [InlineData((4 << 20) + 12345)]
    public void ReusedContextsWriteTheStreamEncodersBytesBehindTheHeaderRoom(int length)
    {
        var data = Mixed(length, length);
        var expected = StreamEncoder(data);
        // Twice in parallel: contexts come back from earlier calls and are shared out between threads.
        Parallel.For(0, 4, _ =>
        {
            Assert.Equal(expected, Zstd.CompressStreaming(data));
            var withRoom = Zstd.CompressStreaming(data, DataBlob.PlainHeaderSize);
            Assert.Equal(expected, withRoom.AsSpan(DataBlob.PlainHeaderSize).ToArray());
        });
        Assert.Equal(0x00, expected[4]); // frame header descriptor: no content size, not single-segment
    }
}
