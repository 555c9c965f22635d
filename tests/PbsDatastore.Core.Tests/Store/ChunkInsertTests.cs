using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Native;
using PbsDatastore.Core.Store;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Store;

public class ChunkInsertTests
{
    private static readonly ChunkDigest Digest = ChunkDigest.Parse("ab00000000000000000000000000000000000000000000000000000000000001");

    [Fact]
    public void EveryFixtureChunkInsertsByteIdenticalThenIsDuplicate()
    {
        using var dir = new TempDir();
        var chunks = ReferenceStore.Expected["store"]!["chunks"]!.AsArray();
        var digests = chunks.Select(c => ChunkDigest.Parse((string)c!["digest"]!)).ToList();
        var store = ChunkStoreTests.SparseStore(dir.Path, digests.Select(d => d.PrefixIndex).Distinct().ToArray());
        var pristine = FilesystemBackend.Open("store1", ReferenceStore.PristinePath);
        var owner = Libc.GetEuid() == 0 ? BackupOwner.Ids!.Value : ((uint, uint)?)null;
        foreach (var digest in digests)
        {
            var raw = pristine.LoadChunk(digest);
            var result = store.InsertChunk(digest, DataBlob.FromRaw(raw));
            Assert.Equal(new ChunkInsertResult(false, raw.Length), result);
            Assert.Equal(raw, store.LoadChunk(digest));
            Assert.Equal(0, Libc.TryLstat(store.ChunkPath(digest), out var st));
            Assert.Equal(0x1A4, st.Mode & 0xFFF);
            if (owner != null) Assert.Equal(owner.Value, (st.Uid, st.Gid));

            Assert.Equal(0, Libc.SetTimes(store.ChunkPath(digest), 1_000_000, 2_000_000));
            Assert.Equal(new ChunkInsertResult(true, raw.Length), store.InsertChunk(digest, DataBlob.FromRaw(raw)));
            var stat = store.Stat(digest)!.Value;
            Assert.True(stat.AtimeSeconds > 1_000_000);
            Assert.Equal(2_000_000, stat.MtimeSeconds);
        }
        Assert.Equal(digests.Order(), store.IterateChunks().Select(e => e.Digest).Order());
        Assert.Empty(Directory.GetFiles(store.ChunkDir, "*tmp_*", SearchOption.AllDirectories));
    }

    public static TheoryData<BlobKind, int, BlobKind, int, string> ExistingChunkRules() => new()
    {
        // existing kind, existing size, new kind, new size -> outcome
        { BlobKind.Uncompressed, 100, BlobKind.Compressed, 100, "duplicate" },
        { BlobKind.Uncompressed, 0, BlobKind.Compressed, 100, "replaced+warn" },
        { BlobKind.Uncompressed, 200, BlobKind.Compressed, 100, "replaced" },
        { BlobKind.Compressed, 50, BlobKind.Uncompressed, 100, "duplicate" },
        { BlobKind.Uncompressed, 200, BlobKind.Encrypted, 100, "ChunkOverwriteRefused" },
        { BlobKind.Compressed, 50, BlobKind.EncryptedCompressed, 100, "ChunkOverwriteRefused" },
        { BlobKind.Encrypted, 200, BlobKind.Encrypted, 100, "ChunkOverwriteRefused" },
        { BlobKind.Encrypted, 200, BlobKind.EncryptedCompressed, 100, "duplicate" },
        { BlobKind.EncryptedCompressed, 200, BlobKind.Encrypted, 100, "duplicate" },
        { BlobKind.EncryptedCompressed, 50, BlobKind.EncryptedCompressed, 100, "duplicate" },
        { BlobKind.Encrypted, 0, BlobKind.Encrypted, 100, "replaced+warn" },
    };

    [Theory]
    [MemberData(nameof(ExistingChunkRules))]
    public void ExistingChunkRulesAsPbs(BlobKind existingKind, int existingSize, BlobKind newKind, int newSize, string outcome)
    {
        using var dir = new TempDir();
        var store = ChunkStoreTests.SparseStore(dir.Path, Digest.PrefixIndex);
        var path = store.ChunkPath(Digest);
        var existing = BlobBytes(existingKind, existingSize);
        File.WriteAllBytes(path, existing);
        Assert.Equal(0, Libc.SetTimes(path, 1_000_000, 2_000_000));
        var incoming = BlobBytes(newKind, newSize);
        var state = new RecordingTaskState();

        if (outcome.StartsWith("Chunk"))
        {
            var e = Assert.Throws<PbsException>(() => store.InsertChunk(Digest, DataBlob.FromRaw(incoming), state));
            Assert.Equal(outcome, e.ErrorId);
            Assert.Equal(existing, File.ReadAllBytes(path));
            return;
        }
        var result = store.InsertChunk(Digest, DataBlob.FromRaw(incoming), state);
        if (outcome == "duplicate")
        {
            Assert.Equal(new ChunkInsertResult(true, existingSize), result);
            Assert.Equal(existing, File.ReadAllBytes(path));
            Assert.True(store.Stat(Digest)!.Value.AtimeSeconds > 1_000_000);
        }
        else
        {
            Assert.Equal(new ChunkInsertResult(false, newSize), result);
            Assert.Equal(incoming, File.ReadAllBytes(path));
        }
        Assert.Equal(outcome == "replaced+warn" ? [$"found empty chunk '{Digest}' in store store1, overwriting"] : [], state.Warnings);
    }

    [Fact]
    public void NonRegularExistingChunkIsRefused()
    {
        using var dir = new TempDir();
        var store = ChunkStoreTests.SparseStore(dir.Path, Digest.PrefixIndex);
        Directory.CreateDirectory(store.ChunkPath(Digest));
        var e = Assert.Throws<PbsException>(() => store.InsertChunk(Digest, DataBlob.FromRaw(BlobBytes(BlobKind.Uncompressed, 20))));
        Assert.Equal("ChunkUnexpectedFileType", e.ErrorId);
        Assert.Equal($"got unexpected file type on store 'store1' for chunk {Digest}", e.Message);
    }

    [Fact]
    public void SyncedInsertWritesTheChunk()
    {
        using var dir = new TempDir();
        ChunkStoreTests.SparseStore(dir.Path, Digest.PrefixIndex);
        var store = FilesystemBackend.Open("store1", dir.Path, syncChunks: true);
        var blob = BlobBytes(BlobKind.Uncompressed, 64);
        Assert.False(store.InsertChunk(Digest, DataBlob.FromRaw(blob)).Duplicate);
        Assert.Equal(blob, store.LoadChunk(Digest));
    }

    /// <summary>A blob-shaped byte array (magic, then filler); insertion looks only at sizes and magics.</summary>
    private static byte[] BlobBytes(BlobKind kind, int size)
    {
        var bytes = new byte[size];
        if (size >= 8) DataBlob.MagicOf(kind).CopyTo(bytes, 0);
        for (var i = 8; i < size; i++) bytes[i] = (byte)i;
        return bytes;
    }
}
