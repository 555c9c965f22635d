using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Store;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Formats;

public class ChunkerTests
{
    private static readonly int[] ClientChunkSizes = [64 << 10, 128 << 10, 256 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20];

    [Fact]
    public void BuzhashTableIsPbsTable()
    {
        var bytes = new byte[1024];
        for (var i = 0; i < 256; i++) BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4 * i), Chunker.BuzhashTable[i]);
        Assert.Equal("5b52080d38287da9d2e278466e3e0db7ec98e5e8b226f50612a56fa012b1f660", Convert.ToHexStringLower(SHA256.HashData(bytes)));
    }

    /// <summary>
    /// `vectors.chunker_test_chunker1_input`, whole and fed in pieces. (`vectors.chunker_mixed_stream` names an
    /// oracle generator that is not described anywhere, so its input cannot be rebuilt here.)
    /// </summary>
    [Fact]
    public void TestChunker1InputVectors()
    {
        var vector = ReferenceStore.Expected["vectors"]!["chunker_test_chunker1_input"]!.AsObject();
        var input = Counters();
        foreach (var (key, value) in vector)
        {
            if (!key.EndsWith("_chunk_ends")) continue;
            var average = AverageFromKey(key);
            var expected = value!.AsArray().Select(n => (long)n!).ToList();
            Assert.Equal(expected, Chunker.ChunkEnds(input, average));
            Assert.Equal(expected, FedInPieces(input, average, 1));
            Assert.Equal(expected, FedInPieces(input, average, 4093));
        }
    }

    /// <summary>§4.4 V2, V3 and V3b (computed by PBS 3.2.4's chunker for the specification).</summary>
    [Fact]
    public void SpecificationVectors()
    {
        Assert.Equal([16777216L, 20971520L], Chunker.ChunkEnds(new byte[20 << 20], 4 << 20));
        var v3 = XorShift(50331648);
        Assert.Equal([1168986L, 10833462, 18087148, 21805504, 29603565, 32949987, 45849641, 48329608, 50331648], Chunker.ChunkEnds(v3, 4 << 20));
        long[] v3b = [25661, 111363, 164754, 208134, 418799, 439528, 569650, 642080, 696838, 801297, 923900, 942250, 1045442,
            1137772, 1168986, 1242178, 1271493, 1329797, 1376192, 1405169, 1458815, 1478850, 1541015, 1586024, 1625431, 1707780,
            1735081, 1859948, 1887703, 1907779, 2023736, 2049734, 2200815, 2217333, 2363406, 2419259, 2473725, 2533083, 2567704,
            2668017, 2731014, 2751222, 2809497, 2967969, 3002731, 3052710, 3090139, 3114717, 3150226, 3166738, 3418203, 3456339,
            3570833, 3591424, 3630898, 3669872, 3816072, 3837658, 3902046, 4081541, 4180721, 4194304];
        Assert.Equal(v3b, Chunker.ChunkEnds(v3.AsSpan(0, 4 << 20), 64 << 10));
        Assert.Equal(v3b, FedInPieces(v3[..(4 << 20)], 64 << 10, 65537));
    }

    [Fact]
    public void ParametersAndEdgeCases()
    {
        var chunker = new Chunker();
        Assert.Equal((4 << 20, 1 << 20, 16L << 20), (chunker.AverageChunkSize, chunker.MinChunkSize, chunker.MaxChunkSize));
        Assert.Empty(Chunker.ChunkEnds([], 64 << 10));
        Assert.Equal([1L], Chunker.ChunkEnds([7], 64 << 10));
        foreach (var size in new[] { 0, 100_000, (64 << 10) + 1 })
            Assert.Equal("UnsupportedChunkSize", Assert.Throws<PbsException>(() => new Chunker(size)).ErrorId);
        // Constant data is cut at exactly four times the average.
        Assert.Equal([256L << 10, 512L << 10, 600_000], Chunker.ChunkEnds(Enumerable.Repeat((byte)0xa5, 600_000).ToArray(), 64 << 10));
    }

    /// <summary>
    /// The fixture's dynamic archives were cut by PBS's chunker: reassemble each (decrypting with the fixture key)
    /// and cut it again; ends and digests (keyed for encrypted archives) must equal the index entries.
    /// </summary>
    [Fact]
    public void FixtureDynamicArchivesRechunkIdentically()
    {
        var expected = ReferenceStore.Expected;
        var crypt = new CryptConfig(Convert.FromHexString((string)expected["key"]!["raw_key_hex"]!));
        var missing = expected["store"]!["missing_chunks"]!.AsArray().Select(m => ChunkDigest.Parse((string)m!["digest"]!)).ToHashSet();
        var store = FilesystemBackend.Open("store1", ReferenceStore.PristinePath);
        var checkedArchives = 0;
        foreach (var file in expected["store"]!["index_files_on_disk"]!.AsArray())
        {
            var index = IndexFile.Open(Path.Combine(ReferenceStore.PristinePath, (string)file!["path"]!));
            if (index.Kind != IndexKind.Dynamic) continue;
            var digests = Enumerable.Range(0, index.Count).Select(index.DigestAt).ToList();
            if (digests.Any(missing.Contains)) continue;
            var blobs = digests.Select(d => DataBlob.FromRaw(store.LoadChunk(d))).ToList();
            var encrypted = blobs[0].Kind.IsEncrypted();
            var stream = blobs.SelectMany(b => b.Decode(encrypted ? crypt : null)).ToArray();
            Assert.Equal(index.IndexBytes, stream.Length);

            var indexEnds = Enumerable.Range(0, index.Count).Select(index.ChunkEnd).ToList();
            var average = ClientChunkSizes.Where(a => Chunker.ChunkEnds(stream, a).SequenceEqual(indexEnds)).ToList();
            Assert.NotEmpty(average);
            long start = 0;
            for (var i = 0; i < index.Count; i++)
            {
                var piece = stream.AsSpan((int)start, (int)(indexEnds[i] - start));
                Assert.Equal(digests[i].ToArray(), DataBlob.ComputeDigest(piece, encrypted ? crypt : null));
                start = indexEnds[i];
            }
            checkedArchives++;
        }
        Assert.True(checkedArchives >= 10, $"only {checkedArchives} archives checked");
    }

    private static int AverageFromKey(string key)
    {
        var size = key.Split('_')[1];
        return size.EndsWith("KiB") ? int.Parse(size[..^3]) << 10 : int.Parse(size[..^3]) << 20;
    }

    private static List<long> FedInPieces(byte[] input, int average, int pieceSize)
    {
        var chunker = new Chunker(average);
        var ends = new List<long>();
        var pos = 0;
        while (pos < input.Length)
        {
            var length = Math.Min(pieceSize, input.Length - pos);
            var cut = chunker.Scan(input.AsSpan(pos, length));
            pos += cut == 0 ? length : cut;
            if (cut != 0) ends.Add(pos);
        }
        if (ends.Count == 0 || ends[^1] != input.Length) ends.Add(input.Length);
        return ends;
    }

    /// <summary>PBS's chunker unit-test input: the 32-bit little-endian counters 0 … 262143.</summary>
    private static byte[] Counters()
    {
        var data = new byte[1 << 20];
        for (var i = 0; i < 262144; i++) BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(4 * i), i);
        return data;
    }

    private static byte[] XorShift(int length)
    {
        var data = new byte[length];
        var s = 0x9E3779B97F4A7C15UL;
        for (var i = 0; i < length; i += 8)
        {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(i), s);
        }
        return data;
    }
}
