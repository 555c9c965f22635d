using PbsDatastore.Core.Formats;
using static PbsDatastore.Core.Tests.Formats.FormatFixtures;

namespace PbsDatastore.Core.Tests.Formats;

/// <summary>Get-PbsChunk's core check against the figures PBS read back from the reference store's files.</summary>
public class BlobFileCheckTests
{
    public static TheoryData<string> ChunkPaths => [.. Chunks.Select(c => (string)c["path"]!)];

    public static TheoryData<string> EncryptedChunkPaths =>
        [.. Chunks.Where(c => ((string)c["kind"]!).StartsWith("encrypted", StringComparison.Ordinal)).Select(c => (string)c["path"]!)];

    public static TheoryData<string> BadFilePaths => [.. BadFiles.Select(c => (string)c["path"]!)];

    [Theory]
    [MemberData(nameof(ChunkPaths))]
    public void ChunkFactsAndDigestMatchPbs(string path)
    {
        var expected = Chunks.Single(c => (string)c["path"]! == path);
        var problems = new List<PbsException>();
        var encrypted = ((string)expected["kind"]!).StartsWith("encrypted", StringComparison.Ordinal);

        var check = BlobFileCheck.Run(StorePath(path), encrypted ? Crypt : null, problems.Add);

        Assert.Empty(problems);
        Assert.Equal((string)expected["digest"]!, check.Digest);
        Assert.False(check.Bad);
        Assert.Equal((long)expected["file_size"]!, check.Info.FileSize);
        Assert.Equal((long)expected["decoded_len"]!, check.DecodedLength);
        Assert.Equal((string)expected["decoded_sha256"]!, check.DecodedSha256);
        Assert.Equal((bool)expected["digest_ok"]!, check.DigestOk);
    }

    [Theory]
    [MemberData(nameof(EncryptedChunkPaths))]
    public void EncryptedChunkWithoutKeyIsNotDecoded(string path)
    {
        var problems = new List<PbsException>();

        var check = BlobFileCheck.Run(StorePath(path), null, problems.Add);

        Assert.Empty(problems);
        Assert.Null(check.DecodedLength);
        Assert.Null(check.DigestOk);
    }

    [Theory]
    [MemberData(nameof(BadFilePaths))]
    public void BadFileProblemsMatchPbs(string path)
    {
        var expected = BadFiles.Single(c => (string)c["path"]! == path);
        var problems = new List<PbsException>();

        var check = BlobFileCheck.Run(StorePath(path), null, problems.Add);

        Assert.True(check.Bad);
        Assert.Equal(((string)expected["name"]!)[..64], check.Digest);
        Assert.Equal((bool)expected["crc_ok"]!, check.Info.CrcOk);
        var ids = problems.Select(p => p.ErrorId).ToList();
        if (!(bool)expected["crc_ok"]!)
            Assert.Equal(["BlobCrcMismatch"], ids);
        else if (expected["decode_error"] is not null)
        {
            Assert.Equal(["BlobDigestMismatch"], ids);
            Assert.False(check.DigestOk);
        }
        else
        {
            Assert.Empty(ids);
            Assert.Equal((string)expected["decoded_sha256"]!, check.DecodedSha256);
        }
    }
}
