using PbsDatastore.Core.Native;
using PbsDatastore.Core.Store;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Store;

public class ChunkStoreCreateTests
{
    [Fact]
    public void CreatedStoreHasPbsLayoutModesAndOwner()
    {
        // 65536 directories: on tmpfs when there is one, since creating and removing them on disk is slow.
        var scratch = Path.Combine(Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(), $"pbs-create-{Guid.NewGuid():N}");
        Directory.CreateDirectory(scratch);
        try
        {
            CreateAndCompare(Path.Combine(scratch, "parent", "store1"), scratch);
        }
        finally
        {
            Directory.Delete(scratch, true);
        }
    }

    private static void CreateAndCompare(string basePath, string parentOfParent)
    {
        var state = new RecordingTaskState();
        var store = FilesystemBackend.Create("store1", basePath, state);

        // Same prefix directories as the store PBS made, and nothing else in .chunks.
        var created = Directory.GetFileSystemEntries(store.ChunkDir).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        var pbs = Directory.GetDirectories(Path.Combine(ReferenceStore.PristinePath, ".chunks")).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(ChunkLayout.PrefixCount, created.Length);
        Assert.Equal(pbs, created);

        // .lock as in the fixture (empty) and as PBS writes it (0644); directories 0755 / 0750.
        var lockFacts = ReferenceStore.Expected["store"]!["lock_file"]!;
        var lockPath = Path.Combine(basePath, (string)lockFacts["path"]!);
        Assert.Equal((long)lockFacts["size"]!, new FileInfo(lockPath).Length);
        var expectedOwner = Libc.GetEuid() == 0 ? BackupOwner.Ids!.Value : (Libc.GetEuid(), StatOf(parentOfParent).Gid);
        AssertMode(lockPath, 0x1A4, Libc.Statx.S_IFREG, expectedOwner);
        AssertMode(basePath, 0x1ED, Libc.Statx.S_IFDIR, expectedOwner);
        AssertMode(store.ChunkDir, 0x1E8, Libc.Statx.S_IFDIR, expectedOwner);
        foreach (var prefix in new[] { 0, 1, 0xabcd, 0xffff })
            AssertMode(store.PrefixDirPath(prefix), 0x1E8, Libc.Statx.S_IFDIR, expectedOwner);
        // The fixture (PBS with umask 022) has the same modes.
        Assert.Equal(0x1E8, StatOf(Path.Combine(ReferenceStore.PristinePath, ".chunks")).Mode & 0xFFF);
        Assert.Equal(0x1E8, StatOf(Path.Combine(ReferenceStore.PristinePath, ".chunks", "0000")).Mode & 0xFFF);
        Assert.Equal(0x1A4, StatOf(Path.Combine(ReferenceStore.PristinePath, ".lock")).Mode & 0xFFF);
        Assert.Empty(Directory.GetFiles(basePath, "*tmp_*"));

        // PBS's progress lines: every percentage from 1 to 99 once.
        Assert.Equal(Enumerable.Range(1, 99).Select(p => $"Chunkstore create: {p}%"), state.Logs);

        // The created store opens, is empty, and cannot be created again.
        Assert.Empty(FilesystemBackend.Open("store1", basePath).IterateChunks());
        var e = Assert.Throws<PbsException>(() => FilesystemBackend.Create("store1", basePath));
        Assert.Equal("ChunkStoreCreateFailed", e.ErrorId);
        Assert.Equal(PbsErrorKind.ResourceExists, e.Kind);
    }

    private static Libc.Statx StatOf(string path)
    {
        Assert.Equal(0, Libc.TryLstat(path, out var st));
        return st;
    }

    private static void AssertMode(string path, int mode, ushort type, (uint Uid, uint Gid) owner)
    {
        var st = StatOf(path);
        Assert.Equal(type, st.Mode & Libc.Statx.S_IFMT);
        Assert.Equal(mode, st.Mode & 0xFFF);
        Assert.Equal(owner, (st.Uid, st.Gid));
    }
}
