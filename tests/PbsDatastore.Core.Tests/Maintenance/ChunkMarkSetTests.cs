using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Memory;

namespace PbsDatastore.Core.Tests.Maintenance;

public class ChunkMarkSetTests
{
    [Fact]
    public void AddsEachDigestOnceAndFindsExactlyWhatWasAdded()
    {
        var random = new Random(7);
        var digests = new byte[50_000][];
        for (var i = 0; i < digests.Length; i++)
        {
            digests[i] = new byte[32];
            random.NextBytes(digests[i]);
        }
        digests[17] = new byte[32]; // the all-zero digest is a digest too
        digests[18] = (byte[])digests[19].Clone();
        digests[18][31] ^= 1; // differs in the last byte only

        var set = new ChunkMarkSet();
        var reference = new HashSet<ChunkDigest>();
        foreach (var round in new[] { 0, 1 })
            foreach (var d in digests)
                Assert.Equal(reference.Add(new ChunkDigest(d)), set.Add(d));
        Assert.Equal(reference.Count, set.Count);
        foreach (var d in digests)
            Assert.True(set.Contains(new ChunkDigest(d)));
        var other = new byte[32];
        for (var i = 0; i < 1000; i++)
        {
            random.NextBytes(other);
            Assert.Equal(reference.Contains(new ChunkDigest(other)), set.Contains(new ChunkDigest(other)));
        }
        // 32-byte slots at a load of 3/8 to 3/4.
        Assert.InRange(set.AllocatedBytes / (double)set.Count, 32 * 4 / 3.0, 32 * 8 / 3.0 + 1);
    }

    /// <summary>GC touches a shard's digests a prefix directory at a time: each shard holds one leading byte.</summary>
    [Fact]
    public void ShardsCopyTheirDigestsGroupedByPrefixDirectory()
    {
        var random = new Random(11);
        var slice = new DigestRange(0x4000_0000_0000_0000, 0x7fff_ffff_ffff_ffff);
        var set = new ChunkMarkSet(200_000, slice);
        var added = new HashSet<ChunkDigest>();
        var bytes = new byte[32];
        while (added.Count < 200_000)
        {
            random.NextBytes(bytes);
            bytes[0] = (byte)(0x40 + (bytes[0] & 0x3f));
            if (added.Add(new ChunkDigest(bytes))) Assert.True(set.Add(bytes));
        }
        var zero = new byte[32];
        Assert.True(set.Add(zero));
        added.Add(new ChunkDigest(zero));
        // Sized once for the slice's shards: no shard grew, about 44 bytes a digest.
        Assert.InRange(set.AllocatedBytes / (double)set.Count, 40, 52);

        var copied = new List<ChunkDigest>();
        var starts = new int[ChunkMarkSet.DirectoriesPerShard + 1];
        for (var shard = 0; shard < ChunkMarkSet.ShardCount; shard++)
        {
            var digests = new ChunkDigest[set.ShardSize(shard)];
            set.CopyShard(shard, digests, starts);
            Assert.Equal(digests.Length, starts[^1]);
            for (var d = 0; d < ChunkMarkSet.DirectoriesPerShard; d++)
                for (var i = starts[d]; i < starts[d + 1]; i++)
                    Assert.Equal(shard * ChunkMarkSet.DirectoriesPerShard + d, digests[i].PrefixIndex);
            copied.AddRange(digests);
        }
        Assert.Equal(added.Order(), copied.Order());
    }
}
