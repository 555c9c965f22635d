using System.Diagnostics;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Native;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Maintenance;

/// <summary>
/// A chunk writer killed mid-write leaves <c>.chunks/xxxx/&lt;hex&gt;.tmp_XXXXXX</c>, which PBS's GC never removes;
/// with <see cref="GarbageCollectionOptions.RemoveStaleTempFiles"/> a later GC removes it once its last write is
/// older than the cutoff, and nothing else beyond PBS's own removals.
/// </summary>
public class GarbageCollectionTempFileTests
{
    [Fact]
    public void TempFileOfAKilledWriterIsRemovedByALaterGcAndNothingElse()
    {
        var expected = ReferenceStore.Expected["gc_after_48h"]!.AsObject();
        var chunks = ReferenceStore.Expected["store"]!["chunks"]!.AsArray().Select(c => (string)c!["path"]!).ToArray();
        using var copy = SparseReferenceStore.FreshCopy();
        var store = copy.StorePath;

        // The writer: a child process writing a chunk under its temp name (as replace_file names it), killed with
        // SIGKILL after the first half, while it waits for the rest.
        var chunk = Path.Combine(store, chunks[0]);
        var blob = File.ReadAllBytes(chunk);
        var killed = chunk + ".tmp_K1ll3d";
        using (var writer = Process.Start(new ProcessStartInfo("bash", ["-c", "exec cat > \"$0\"", killed]) { RedirectStandardInput = true })!)
        {
            writer.StandardInput.BaseStream.Write(blob, 0, blob.Length / 2);
            writer.StandardInput.BaseStream.Flush();
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (!(File.Exists(killed) && new FileInfo(killed).Length == blob.Length / 2) && DateTime.UtcNow < deadline) Thread.Sleep(10);
            writer.Kill(); // SIGKILL
            writer.WaitForExit();
            Assert.Equal(137, writer.ExitCode);
        }
        Assert.Equal(blob.Length / 2, new FileInfo(killed).Length);
        // A writer's temp file of right now must stay: its owner may still be writing.
        var live = Path.Combine(store, chunks[1]) + ".tmp_L1v3wr";
        File.WriteAllBytes(live, [1, 2, 3]);

        var before = ChunkDirFiles(store);
        GarbageCollectionTests.AgeChunkDir(store, 48);
        var twoDaysAgo = DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 48 * 3600;
        Assert.Equal(0, Libc.SetTimes(killed, twoDaysAgo, twoDaysAgo));

        var log = new OrderedLog();
        var result = GarbageCollection.Run(store, new GarbageCollectionOptions { DatastoreName = "store1", RemoveStaleTempFiles = true }, log);

        // PBS's figures are untouched; the temp files removed are the killed writer's and the fixture's leftover
        // from 2024, counted apart.
        GarbageCollectionTests.AssertStatus(expected["status"]!.AsObject(), result.Status);
        var leftover = (string)ReferenceStore.Expected["gc_cases"]!["chunk_dir_tmp_leftover"]!;
        var removed = before.Except(ChunkDirFiles(store)).Order(StringComparer.Ordinal).ToArray();
        var pbsRemoved = expected["files_removed"]!.AsArray().Select(n => (string)n!);
        Assert.Equal(pbsRemoved.Append(leftover).Append(Path.GetRelativePath(store, killed)).Order(StringComparer.Ordinal), removed);
        Assert.True(File.Exists(live));
        Assert.Equal(2, result.RemovedTempFiles);
        Assert.Equal(blob.Length / 2 + new FileInfo(Path.Combine(ReferenceStore.PristinePath, leftover)).Length, result.RemovedTempBytes);
        Assert.Contains($"Removed stale chunk temp files: 2 ({HumanByte.Format(result.RemovedTempBytes)})", log.Lines);
    }

    [Fact]
    public void WithoutTheOptionGcLeavesTempFilesAsPbsDoes()
    {
        using var copy = SparseReferenceStore.FreshCopy();
        var store = copy.StorePath;
        GarbageCollectionTests.AgeChunkDir(store, 48);
        var leftover = Path.Combine(store, (string)ReferenceStore.Expected["gc_cases"]!["chunk_dir_tmp_leftover"]!);
        var result = GarbageCollection.Run(store, new GarbageCollectionOptions(), new OrderedLog());
        Assert.True(File.Exists(leftover));
        Assert.Equal(0, result.RemovedTempFiles);
    }

    private static HashSet<string> ChunkDirFiles(string store)
        => Directory.EnumerateFiles(Path.Combine(store, ".chunks"), "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(store, f)).ToHashSet(StringComparer.Ordinal);
}
