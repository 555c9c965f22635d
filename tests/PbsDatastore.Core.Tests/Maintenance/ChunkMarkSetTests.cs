using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Maintenance;

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
}
