using System.Runtime.CompilerServices;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Maintenance;

namespace PbsDatastore.Core.Tests.Maintenance;

public class SpaceAccountingTableTests
{
    // Same transition as the accounting uses, on a plain counter-free state: OR in a bit per member.
    private readonly struct OrBits(uint bits) : IChunkStateUpdate
    {
        public uint Apply(uint state) => state | bits;
    }

    private static ChunkDigest RandomDigest(Random random)
    {
        Span<byte> bytes = stackalloc byte[32];
        random.NextBytes(bytes);
        return new ChunkDigest(bytes);
    }

    /// <summary>Digests with the same hash code (words 1 and 3 equal), so they probe the same slots.</summary>
    private static ChunkDigest CollidingDigest(int i)
    {
        Span<byte> bytes = stackalloc byte[32];
        bytes[0] = (byte)i;
        bytes[17] = (byte)(i >> 8);
        return new ChunkDigest(bytes);
    }

    [Theory]
    [InlineData(0, 1, false)]
    [InlineData(8, 1, false)]
    [InlineData(8, 4, false)]
    [InlineData(2, 3, false)]
    [InlineData(8, 1, true)]
    [InlineData(8, 3, true)]
    [InlineData(0, 2, true)]
    public void MatchesDictionaryOnRandomDigests(int shardBits, int threads, bool batched)
    {
        var random = new Random(1234 + shardBits * 10 + threads);
        var pool = Enumerable.Range(0, 20_000).Select(_ => RandomDigest(random))
            .Concat(Enumerable.Range(0, 300).Select(CollidingDigest))
            .Append(default) // the all-zero digest of a never-written fixed-index slot
            .ToArray();
        // References with heavy repetition, as in a store with many similar snapshots.
        var refs = Enumerable.Range(0, 120_000).Select(_ => (Digest: pool[random.Next(pool.Length)], Bit: 1u << random.Next(8))).ToArray();

        var expected = new Dictionary<ChunkDigest, uint>();
        foreach (var (digest, bit) in refs)
            expected[digest] = expected.GetValueOrDefault(digest) | bit;

        var table = new ChunkDigestTable(shardBits);
        Parallel.ForEach(Partitioner(refs.Length, threads), new ParallelOptions { MaxDegreeOfParallelism = threads }, range =>
        {
            if (!batched)
            {
                for (var i = range.Start; i < range.End; i++) table.Update(refs[i].Digest, new OrBits(refs[i].Bit));
                return;
            }
            // Per shard and bit, in batches of up to 50, as the accounting pass applies them.
            foreach (var batch in refs[range.Start..range.End].GroupBy(r => (table.ShardIndex(r.Digest), r.Bit)))
                foreach (var chunk in batch.Chunk(50))
                    table.UpdateShard(batch.Key.Item1, chunk.Select(r => r.Digest).ToArray(), new OrBits(batch.Key.Bit));
        });

        Assert.Equal(expected.Count, table.Count);
        var seen = new Dictionary<ChunkDigest, uint>();
        for (var s = 0; s < table.ShardCount; s++)
            foreach (var entry in table.ShardSlots(s).ToArray())
                if (entry.State != 0)
                    Assert.True(seen.TryAdd(entry.Digest, entry.State & ~ChunkDigestTable.Occupied), "digest stored twice");
        Assert.Equal(expected.OrderBy(e => e.Key), seen.OrderBy(e => e.Key));

        foreach (var (digest, bits) in expected)
        {
            ref var entry = ref table.Find(digest);
            Assert.False(Unsafe.IsNullRef(ref entry));
            Assert.Equal(bits, entry.State & ~ChunkDigestTable.Occupied);
        }
        for (var i = 0; i < 1000; i++)
            Assert.True(Unsafe.IsNullRef(ref table.Find(RandomDigest(random))));
    }

    [Fact]
    public void MemoryStaysWithinBudgetPerChunk()
    {
        var random = new Random(7);
        var table = new ChunkDigestTable();
        for (var i = 0; i < 200_000; i++) table.Update(RandomDigest(random), new OrBits(1));
        // 40-byte slots at a load of at least 3/8 (per shard, so a little less overall).
        Assert.InRange(table.AllocatedBytes / (double)table.Count, 40, 120);
    }

    private static IEnumerable<(int Start, int End)> Partitioner(int length, int parts)
    {
        var size = (length + parts - 1) / parts;
        for (var start = 0; start < length; start += size) yield return (start, Math.Min(length, start + size));
    }
}
