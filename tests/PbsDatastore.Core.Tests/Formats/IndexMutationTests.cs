using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Formats;

/// <summary>Mangled index files give a PbsException with a stable ErrorId, never another exception.</summary>
public class IndexMutationTests
{
    public static TheoryData<string> IndexFiles()
    {
        var data = new TheoryData<string>();
        foreach (var file in ReferenceStore.Expected["store"]!["index_files_on_disk"]!.AsArray())
            data.Add((string)file!["path"]!);
        return data;
    }

    [Theory]
    [MemberData(nameof(IndexFiles))]
    public void MangledIndexGivesOnlyPbsExceptions(string relativePath)
    {
        var original = File.ReadAllBytes(Path.Combine(ReferenceStore.PristinePath, relativePath));
        var random = new Random(relativePath.GetHashCode(StringComparison.Ordinal) ^ 0x5eed);
        var errorIds = new HashSet<string>();
        for (var round = 0; round < 300; round++)
        {
            var mutated = Mutate(original, random, round);
            try
            {
                Exercise(IndexFile.Parse(mutated, relativePath));
            }
            catch (PbsException e)
            {
                Assert.False(string.IsNullOrEmpty(e.ErrorId));
                Assert.Equal(relativePath, e.Target);
                errorIds.Add(e.ErrorId);
            }
        }
        Assert.Contains("IndexTooShort", errorIds);
        Assert.Contains("IndexBadMagic", errorIds);
        Assert.Contains("IndexBadSize", errorIds);
        if (relativePath.EndsWith(".fidx")) Assert.Contains("IndexBadChunkSize", errorIds);
    }

    [Fact]
    public void MangledFileOnDiskGivesPbsException()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "short.fidx");
        File.WriteAllBytes(path, new byte[100]);
        var e = Assert.Throws<PbsException>(() => IndexFile.Open(path));
        Assert.Equal("IndexTooShort", e.ErrorId);
        Assert.Equal("index too small (100)", e.Message);
        Assert.Equal(PbsErrorKind.InvalidData, e.Kind);
        e = Assert.Throws<PbsException>(() => IndexFile.Open(dir.Path));
        Assert.NotEqual(PbsErrorKind.InvalidData, e.Kind);
    }

    private static void Exercise(IndexFile index)
    {
        _ = index.ComputeCsum();
        _ = index.CsumMatches;
        _ = index.IndexSize;
        _ = index.UuidHex;
        _ = index.CTime;
        for (var i = 0; i < index.Count; i++)
        {
            _ = index.DigestAt(i);
            _ = index.ChunkLength(i);
        }
        var bytes = index.IndexBytes;
        foreach (var offset in new[] { 0, 1, bytes / 2, bytes - 1, bytes, long.MaxValue, -5 })
            _ = index.ChunkFromOffset(offset);
    }

    private static byte[] Mutate(byte[] original, Random random, int round)
    {
        var data = (byte[])original.Clone();
        switch (round % 6)
        {
            case 0: // truncate anywhere
                return data[..random.Next(data.Length)];
            case 1: // append a few bytes
                return [.. data, .. new byte[random.Next(1, 80)]];
            case 2: // flip bytes in the header fields (magic, uuid, ctime, csum, size, chunk size)
                for (var n = random.Next(1, 4); n > 0; n--) data[random.Next(80)] ^= (byte)random.Next(1, 256);
                return data;
            case 3: // flip bytes in the entries (end offsets of dynamic indexes included)
                if (data.Length > IndexFile.HeaderSize)
                    for (var n = random.Next(1, 8); n > 0; n--) data[random.Next(IndexFile.HeaderSize, data.Length)] ^= (byte)random.Next(1, 256);
                return data;
            case 4: // forge size / chunk size / end offsets with extreme values
                var value = random.Next(4) switch { 0 => 0UL, 1 => ulong.MaxValue, 2 => 1UL << random.Next(64), _ => (ulong)random.NextInt64() };
                var at = random.Next(3) switch
                {
                    0 => 64,
                    1 => 72,
                    _ => data.Length > IndexFile.HeaderSize + 8 ? IndexFile.HeaderSize + 40 * random.Next((data.Length - IndexFile.HeaderSize) / 40) : 64,
                };
                BitConverter.TryWriteBytes(data.AsSpan(at), value);
                return data;
            default: // random garbage of index-like length
                var garbage = new byte[random.Next(2) == 0 ? random.Next(5000) : data.Length];
                random.NextBytes(garbage);
                if (random.Next(2) == 0) data.AsSpan(0, Math.Min(8, garbage.Length)).CopyTo(garbage);
                return garbage;
        }
    }
}
