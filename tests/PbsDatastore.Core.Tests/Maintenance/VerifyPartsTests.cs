using System.Text.Json.Nodes;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Store;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Maintenance;

public class VerifyPartsTests
{
    private const long Now = 1_710_000_000;

    private static JsonNode State(string state, long start) =>
        new JsonObject { ["state"] = state, ["upid"] = $"UPID:pbs:000004D2:0001E240:00000003:{start:X8}:verify:store1:root@pam:" };

    [Fact]
    public void SkipRulesFollowPbs()
    {
        Assert.True(VerifyFilter.ShouldVerify(null, true, null, Now));
        Assert.True(VerifyFilter.ShouldVerify(State("ok", Now), false, null, Now));
        Assert.False(VerifyFilter.ShouldVerify(State("ok", Now - 400 * 86400), true, null, Now));
        Assert.False(VerifyFilter.ShouldVerify(State("failed", Now), true, null, Now), "a failed state also counts as verified");
        Assert.True(VerifyFilter.ShouldVerify(State("ok", Now - 2 * 86400), true, 1, Now));
        Assert.False(VerifyFilter.ShouldVerify(State("ok", Now - 2 * 86400 + 1), true, 1, Now), "whole days only");
        Assert.True(VerifyFilter.ShouldVerify(State("ok", Now - 86400), true, 0, Now));
        Assert.False(VerifyFilter.ShouldVerify(State("ok", Now - 86399), true, 0, Now));
        Assert.True(VerifyFilter.ShouldVerify(new JsonObject { ["state"] = "ok", ["upid"] = "nonsense" }, true, null, Now));
        Assert.True(VerifyFilter.ShouldVerify(State("maybe", Now), true, null, Now));
        Assert.True(VerifyFilter.ShouldVerify(JsonValue.Create("ok"), true, null, Now));
    }

    [Theory]
    [InlineData(0, 7, 0, 0, "0.00% (0/7 groups)")]
    [InlineData(3, 7, 1, 2, "50.00% (3/7 groups, 1/2 snapshots in group #4)")]
    [InlineData(3, 7, 2, 2, "57.14% (4/7 groups)")]
    [InlineData(0, 1, 1, 3, "33.33% (1/3 snapshots)")]
    public void ProgressTextIsPbs(int doneGroups, int totalGroups, int doneSnapshots, int groupSnapshots, string text) =>
        Assert.Equal(text, new StoreProgress(doneGroups, totalGroups, doneSnapshots, groupSnapshots).ToString());

    [Fact]
    public void CorruptChunksAreRenamedToTheFirstFreeBadName()
    {
        using var synthetic = new SyntheticStore();
        var digest = ChunkDigest.Parse(new string('a', 64));
        var chunk = synthetic.ChunkPath(digest);
        synthetic.WriteFile(chunk, 1);
        using var store = FilesystemBackend.Open("synth", synthetic.Path);
        var task = new RecordingTaskState();
        Assert.Equal(chunk + ".0.bad", store.RenameCorruptChunk(digest, task));
        File.WriteAllText(chunk, "y");
        Assert.Equal(chunk + ".1.bad", store.RenameCorruptChunk(digest, task));
        Assert.Null(store.RenameCorruptChunk(digest, task));
        Assert.Equal([$"corrupted chunk renamed to \"{chunk}.0.bad\"", $"corrupted chunk renamed to \"{chunk}.1.bad\""], task.Logs);

        for (var n = 2; n <= 9; n++)
            File.WriteAllText($"{chunk}.{n}.bad", "old");
        File.WriteAllText(chunk, "z");
        Assert.Equal(chunk + ".9.bad", store.RenameCorruptChunk(digest, task));
        Assert.Equal("z", File.ReadAllText(chunk + ".9.bad"));
    }

    [Theory]
    [InlineData(ChunkOrder.Inode, 1, 4)]
    [InlineData(ChunkOrder.None, 3, 1)]
    [InlineData(ChunkOrder.Inode, 2, 2)]
    public void EveryRepeatOfACorruptChunkCountsAnErrorAsInPbs(ChunkOrder order, int readers, int workers)
    {
        using var store = new SyntheticStore();
        const int size = 4096;
        ChunkDigest Chunk(byte fill, bool corrupt)
        {
            var data = Enumerable.Repeat(fill, size).ToArray();
            var digest = new ChunkDigest(System.Security.Cryptography.SHA256.HashData(data));
            var path = store.ChunkPath(digest);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            // A corrupt chunk is a valid blob of other data: its digest check fails.
            File.WriteAllBytes(path, DataBlob.Encode(corrupt ? data.Select(b => (byte)~b).ToArray() : data, null, compress: true).Raw.ToArray());
            return digest;
        }
        var (good, corrupt) = (Chunk(1, false), Chunk(2, true));
        var missing = new ChunkDigest(System.Security.Cryptography.SHA256.HashData(new byte[] { 3 }));
        // A disk image repeats chunks (zeros above all): 3 missing and 2 corrupt positions, 3 good ones.
        store.WriteFixed("vm/1/2024-01-01T00:00:00Z/drive-scsi0.img.fidx", [good, missing, good, missing, corrupt, missing, corrupt, good], size);
        var index = IndexFile.Open(Path.Combine(store.Path, "vm/1/2024-01-01T00:00:00Z/drive-scsi0.img.fidx"));
        var verifier = new ChunkVerifier(FilesystemBackend.Open("synth", store.Path), null, new VerifyTuning(order, readers, workers), dryRun: true);

        var result = verifier.VerifyIndexChunks(index, CryptMode.None, "drive-scsi0.img.fidx", new RecordingTaskState());

        Assert.Equal(5, result.Errors);
        Assert.Equal(3, result.ChunkErrors.Count(e => e.Digest == missing.ToString()));
        Assert.Equal(2, result.ChunkErrors.Count(e => e.Digest == corrupt.ToString()));
        // Each distinct chunk file was read once.
        Assert.Equal(2, result.ChunksLoaded);
    }
}
