using System.Security.Cryptography;
using System.Text.Json.Nodes;
using PbsDatastore.Core.Backup;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Backup;

/// <summary>
/// Every archive PBS wrote into the reference store is exported, and every index is written again from the
/// exported bytes: the new index must have PBS's chunk boundaries, digests and checksum exactly.
/// </summary>
[Collection(IngestCollection.Name)]
public class ReferenceRoundTripTests
{
    private static readonly HashSet<string> MissingChunks = ReferenceStore.Expected["store"]!["missing_chunks"]!.AsArray()
        .Select(m => (string)m!["digest"]!).ToHashSet();

    public static TheoryData<string, string> Archives()
    {
        var data = new TheoryData<string, string>();
        foreach (var snapshot in ReferenceStore.Expected["store"]!["snapshots"]!.AsArray())
        {
            if (!(bool)snapshot!["finished"]!) continue;
            foreach (var file in snapshot["files"]!.AsArray())
                if (file!["manifest_entry"] != null)
                    data.Add((string)snapshot["path"]!, (string)file["name"]!);
        }
        return data;
    }

    private static (JsonObject Snapshot, JsonObject File) Find(string snapshotPath, string name)
    {
        var snapshot = ReferenceStore.Expected["store"]!["snapshots"]!.AsArray().Single(s => (string)s!["path"]! == snapshotPath)!.AsObject();
        return (snapshot, snapshot["files"]!.AsArray().Single(f => (string)f!["name"]! == name)!.AsObject());
    }

    private static BackupSnapshot Open(Datastore store, JsonObject snapshot)
        => store.Group(BackupNamespace.Parse((string?)snapshot["ns"] ?? ""), BackupTypes.Parse((string)snapshot["type"]!),
            (string)snapshot["id"]!).Snapshot((long)snapshot["time"]!);

    [Theory]
    [MemberData(nameof(Archives))]
    public void ExportAndRewriteReproducePbs(string snapshotPath, string name)
    {
        var (expectedSnapshot, file) = Find(snapshotPath, name);
        var entry = file["manifest_entry"]!;
        var crypt = (string)entry["crypt-mode"]! == "encrypt" ? KeyConfig.Load(ReferenceStore.KeyFile).Decrypt() : null;
        var source = Datastore.Open(ReferenceStore.PristinePath);
        var snapshot = Open(source, expectedSnapshot);

        var exported = new MemoryStream();
        var missing = file["index"]?["entries"]!.AsArray().Select(e => (string)e!["digest"]!).FirstOrDefault(MissingChunks.Contains);
        if (missing != null)
        {
            var e = Assert.Throws<PbsException>(() => ArchiveExporter.Export(snapshot, name, exported, crypt, NullTaskState.Instance));
            Assert.Equal(missing, e.Target);
            Assert.Contains(missing, e.Message);
            return;
        }
        var result = ArchiveExporter.Export(snapshot, name, exported, crypt, NullTaskState.Instance);
        var bytes = exported.ToArray();

        if (file["blob"] is { } blob)
        {
            Assert.Equal((long)blob["decoded_len"]!, bytes.Length);
            Assert.Equal((string)blob["decoded_sha256"]!, Convert.ToHexStringLower(SHA256.HashData(bytes)));
            return;
        }

        var index = file["index"]!;
        Assert.Equal((long)index["size"]!, result.Size);
        using var writer = SnapshotWriter.Begin(SharedStore.Datastore, BackupNamespace.Root, BackupTypes.Parse((string)expectedSnapshot["type"]!),
            SharedStore.NewId((string)expectedSnapshot["id"]!), (long)expectedSnapshot["time"]!, Authid.RootPam, crypt, NullTaskState.Instance);
        var written = (string)index["kind"]! == "fixed-index"
            ? writer.AddFixedIndex(name, new MemoryStream(bytes), bytes.Length, (int)(long)index["chunk_size"]!)
            : writer.AddDynamicIndex(name, new MemoryStream(bytes), 64 << 10);
        var rewritten = writer.Finish();

        var again = IndexFile.Open(Path.Combine(rewritten.FullPath, name));
        var expectedEntries = index["entries"]!.AsArray();
        Assert.Equal(expectedEntries.Count, again.Count);
        for (var i = 0; i < again.Count; i++)
        {
            Assert.Equal((string)expectedEntries[i]!["digest"]!, again.DigestAt(i).ToString());
            if (expectedEntries[i]!["end"] is { } end)
                Assert.Equal((long)end, again.ChunkEnd(i));
        }
        Assert.Equal((string)index["computed_csum"]!, written.Csum);
        Assert.Equal((string)entry["csum"]!, written.Csum);
        Assert.Equal((long)entry["size"]!, written.Size);
    }
}
