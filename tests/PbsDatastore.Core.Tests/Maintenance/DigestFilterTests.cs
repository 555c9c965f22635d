using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Maintenance;

namespace PbsDatastore.Core.Tests.Maintenance;

/// <summary>
/// The filter in front of the accounting table marks exactly the held digests of a run of index entries, whichever
/// loop tests them: the AVX-512 one (fixed index entries, eight at a time) or the scalar one (the rest, and every
/// dynamic index entry). Where the CPU lacks AVX-512, both runs of a case test the scalar loop.
/// </summary>
public class DigestFilterTests
{
    private const uint Held = 1, Marked = 2;

    private readonly struct Hold : IChunkStateUpdate
    {
        public uint Apply(uint state) => state | Held;
    }

    [Theory]
    [InlineData(32, 4099, true)] // a tail after the last whole block of eight
    [InlineData(32, 4099, false)]
    [InlineData(32, 7, true)] // fewer than eight: the scalar loop only
    [InlineData(32, 0, true)]
    [InlineData(40, 1001, true)] // dynamic index entries: the offset first, the digest last
    [InlineData(32, 513, true)] // one more than a scan
    public void MarksExactlyTheHeldDigests(int stride, int entries, bool vectors)
    {
        var random = new Random(stride * 10_000 + entries);
        var table = new ChunkDigestTable(expected: 3000);
        var held = new List<ChunkDigest>();
        Span<byte> digest = stackalloc byte[ChunkDigest.Size];
        for (var i = 0; i < 3000; i++)
        {
            random.NextBytes(digest);
            held.Add(new ChunkDigest(digest));
            table.Update(held[^1], new Hold());
        }
        // Every fifth entry is a held digest, the rest foreign; the bytes before each digest are noise.
        var bytes = new byte[entries * stride];
        random.NextBytes(bytes);
        var expected = new HashSet<ChunkDigest>();
        for (var i = 0; i < entries; i += 5)
        {
            var d = held[random.Next(held.Count)];
            d.WriteTo(bytes.AsSpan(i * stride + stride - ChunkDigest.Size, ChunkDigest.Size));
            expected.Add(d);
        }
        var filter = new DigestFilter(table);

        var before = DigestFilter.UseVectors;
        DigestFilter.UseVectors = vectors;
        try
        {
            filter.MarkHeld(bytes, stride, table, Marked);
        }
        finally
        {
            DigestFilter.UseVectors = before;
        }

        var marked = new HashSet<ChunkDigest>();
        for (var shard = 0; shard < table.ShardCount; shard++)
            foreach (ref readonly var entry in table.ShardSlots(shard))
                if ((entry.State & Marked) != 0) marked.Add(entry.Digest);
        Assert.Equal(expected.OrderBy(d => d), marked.OrderBy(d => d));
    }
}
