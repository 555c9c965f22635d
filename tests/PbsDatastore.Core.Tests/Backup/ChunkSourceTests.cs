using System.Text.Json.Nodes;
using PbsDatastore.Core.Backup;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Backup;

/// <summary>The ingest cutter (stream → chunks) against the chunker vectors PBS's own chunker produced.</summary>
public class ChunkSourceTests
{
    /// <summary>PBS's chunker unit-test input: the 32-bit little-endian counters 0 … 262143.</summary>
    private static byte[] CounterInput()
    {
        var data = new byte[1 << 20];
        for (var i = 0; i < 262144; i++)
            BitConverter.TryWriteBytes(data.AsSpan(i * 4), (uint)i);
        return data;
    }

    public static TheoryData<string, int, int> CounterVectors()
    {
        var data = new TheoryData<string, int, int>();
        var vector = ReferenceStore.Expected["vectors"]!["chunker_test_chunker1_input"]!.AsObject();
        foreach (var (key, _) in vector)
        {
            if (!key.EndsWith("_chunk_ends")) continue;
            var avg = key switch
            {
                "avg_64KiB_chunk_ends" => 64 << 10,
                "avg_4MiB_chunk_ends" => 4 << 20,
                _ => throw new InvalidOperationException($"unknown vector {key}"),
            };
            foreach (var readSize in new[] { 0, 1, 4093 })
                data.Add(key, avg, readSize);
        }
        return data;
    }

    /// <summary>Every chunk-end list of the vector, whatever piece sizes the input stream hands out.</summary>
    [Theory]
    [MemberData(nameof(CounterVectors))]
    public void DynamicCutsEqualPbsVector(string key, int avg, int readSize)
    {
        var expected = ReferenceStore.Expected["vectors"]!["chunker_test_chunker1_input"]![key]!.AsArray().Select(n => (long)n!).ToArray();
        var input = CounterInput();
        Stream stream = readSize == 0 ? new MemoryStream(input) : new TrickleStream(input, readSize);
        var ends = new List<long>();
        long expectedStart = 0;
        foreach (var chunk in ChunkSource.Dynamic(stream, avg, "vector"))
        {
            Assert.Equal(expectedStart, chunk.Start);
            Assert.True(chunk.Data.SequenceEqual(input.AsSpan((int)chunk.Start, chunk.Length)));
            ends.Add(chunk.End);
            expectedStart = chunk.End;
            chunk.Return();
        }
        Assert.Equal(expected, ends);
    }

    [Theory]
    [InlineData(0, 65536)]
    [InlineData(1, 65536)]
    [InlineData(65535, 65536)]
    [InlineData(65536, 65536)]
    [InlineData(65537, 65536)]
    [InlineData(3 * 1048576 + 17, 1048576)]
    public void FixedCutsAreChunkSizePieces(int length, int chunkSize)
    {
        var input = new byte[length];
        new Random(length).NextBytes(input);
        var chunks = ChunkSource.Fixed(new TrickleStream(input, 7777), chunkSize, "fixed").ToList();
        Assert.Equal((length + chunkSize - 1) / chunkSize, chunks.Count);
        for (var i = 0; i < chunks.Count; i++)
        {
            Assert.Equal((long)i * chunkSize, chunks[i].Start);
            Assert.Equal(Math.Min(chunkSize, length - i * chunkSize), chunks[i].Length);
            Assert.True(chunks[i].Data.SequenceEqual(input.AsSpan(i * chunkSize, chunks[i].Length)));
            chunks[i].Return();
        }
    }

    [Fact]
    public void ZeroDataIsCutAtFourTimesTheAverage()
    {
        var ends = ChunkSource.Dynamic(new MemoryStream(new byte[5 << 20]), 1 << 20, "zeros").Select(c => { c.Return(); return c.End; }).ToList();
        Assert.Equal([4L << 20, 5L << 20], ends);
    }

    /// <summary>A stream that hands out at most <c>piece</c> bytes per read, as pipes and sockets do.</summary>
    internal sealed class TrickleStream(byte[] data, int piece) : MemoryStream(data)
    {
        public override int Read(Span<byte> buffer) => base.Read(buffer[..Math.Min(buffer.Length, piece)]);
        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, piece));
    }
}
