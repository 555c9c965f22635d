using System.Security.Cryptography;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Store;

namespace PbsDatastore.Core.Backup;

/// <summary>What an export produced.</summary>
public sealed record ArchiveExportResult(string Snapshot, string Name, ArchiveType Type, CryptMode CryptMode,
    long Size, int ChunkCount, TimeSpan Elapsed)
{
    /// <summary>The file written, when the export went to a file.</summary>
    public string? Destination { get; init; }

    public double MegabytesPerSecond => Elapsed.TotalSeconds > 0 ? Size / 1e6 / Elapsed.TotalSeconds : 0;
}

/// <summary>
/// Restores one archive of a snapshot as PBS's client does: the manifest's key fingerprint and signature are
/// checked when a key is given, the index's checksum and size must match the manifest, and every chunk is loaded
/// (CRC), decoded (GCM tag) and checked against its digest and its length in the index before its bytes are
/// written. The snapshot is locked shared meanwhile (a reader, §6.2).
/// </summary>
public static class ArchiveExporter
{
    public static ArchiveExportResult Export(BackupSnapshot snapshot, string archiveName, Stream output, CryptConfig? crypt,
        ITaskState state)
    {
        using var snapshotLock = BackupLocks.LockSnapshot(snapshot, exclusive: false, "locked by another operation");
        var manifest = BackupManifest.Load(snapshot.ManifestPath);
        manifest.CheckFingerprint(crypt);
        manifest.CheckSignature(crypt);
        var name = ArchiveNames.Resolve(archiveName, manifest.Files.Select(f => f.Filename))
            ?? throw new PbsException("ArchiveNotFound", PbsErrorKind.ObjectNotFound,
                $"archive \"{archiveName}\" not found in snapshot {snapshot} (it has: {string.Join(", ", manifest.Files.Select(f => f.Filename))})",
                archiveName);
        var entry = manifest.Files.First(f => f.Filename == name);
        if (entry.CryptMode == CryptMode.Encrypt && crypt is null)
            throw new PbsException("KeyRequired", PbsErrorKind.SecurityError,
                $"archive {name} is encrypted: a key is required to export it", name);
        var type = ArchiveNames.TypeOf(name);
        var path = Path.Combine(snapshot.FullPath, name);
        var progress = new TransferProgress(state, 1, $"Exporting {name}", (long)entry.Size);
        try
        {
            var chunks = type == ArchiveType.Blob
                ? ExportBlob(path, entry, crypt, output, progress)
                : ExportIndex(snapshot, path, entry, crypt, output, progress, state);
            output.Flush();
            var result = new ArchiveExportResult(snapshot.ToString(), name, type, entry.CryptMode, progress.Bytes, chunks, progress.Elapsed);
            state.Log($"restored {name}: {result.Size} bytes, {chunks} chunks in {result.Elapsed.TotalSeconds:F2} s ({result.MegabytesPerSecond:F2} MB/s)");
            return result;
        }
        finally
        {
            progress.Complete();
        }
    }

    private static int ExportBlob(string path, ManifestFile entry, CryptConfig? crypt, Stream output, TransferProgress progress)
    {
        var raw = ReadFile(path);
        var csum = Convert.ToHexStringLower(SHA256.HashData(raw));
        if ((ulong)raw.Length != entry.Size || csum != entry.Csum)
            throw new PbsException("ArchiveChecksumMismatch", PbsErrorKind.InvalidData,
                $"wrong checksum for blob {entry.Filename}: manifest has size {entry.Size} csum {entry.Csum}, file has size {raw.Length} csum {csum}", path);
        var blob = DataBlob.FromRaw(raw, path);
        blob.VerifyCrc();
        var data = blob.Decode(crypt);
        Write(output, data, path);
        progress.Add(data.Length);
        return 0;
    }

    private static int ExportIndex(BackupSnapshot snapshot, string path, ManifestFile entry, CryptConfig? crypt, Stream output,
        TransferProgress progress, ITaskState state)
    {
        var index = IndexFile.Open(path);
        var csum = Convert.ToHexStringLower(index.ComputeCsum());
        if ((ulong)index.IndexBytes != entry.Size || csum != entry.Csum)
            throw new PbsException("ArchiveChecksumMismatch", PbsErrorKind.InvalidData,
                $"wrong checksum for index {entry.Filename}: manifest has size {entry.Size} csum {entry.Csum}, index has size {index.IndexBytes} csum {csum}", path);
        using var lease = snapshot.Datastore.LeaseBackend();
        var chunkStore = snapshot.Datastore.Backend;
        OrderedPipeline.Run(Enumerable.Range(0, index.Count), i =>
        {
            var digest = index.DigestAt(i);
            var start = index.ChunkStart(i);
            var length = index.ChunkLength(i);
            byte[] data;
            try
            {
                var blob = DataBlob.FromRaw(chunkStore.LoadChunk(digest), chunkStore.ChunkPath(digest));
                blob.VerifyCrc();
                if (blob.Kind.CryptMode() != (entry.CryptMode == CryptMode.Encrypt ? CryptMode.Encrypt : CryptMode.None))
                    throw new PbsException("ChunkCryptModeMismatch", PbsErrorKind.InvalidData,
                        $"chunk {digest} has crypt mode {blob.Kind.CryptMode().ToPbsName()}, archive is {entry.CryptMode.ToPbsName()}", digest.ToString());
                data = blob.Decode(crypt, digest);
            }
            catch (PbsException e)
            {
                throw new PbsException(e.ErrorId, e.Kind,
                    $"chunk {digest} of {entry.Filename} (bytes {start}..{start + length}) is bad: {e.Message}", digest.ToString(), e);
            }
            if (data.Length != length)
                throw new PbsException("ChunkWrongLength", PbsErrorKind.InvalidData,
                    $"chunk {digest} of {entry.Filename} (bytes {start}..{start + length}) has wrong length ({length} != {data.Length})", digest.ToString());
            return data;
        }, data =>
        {
            Write(output, data, path);
            progress.Add(data.Length);
        }, state);
        return index.Count;
    }

    private static void Write(Stream output, byte[] data, string source)
    {
        try { output.Write(data); }
        catch (IOException e)
        {
            throw new PbsException("OutputWriteFailed", PbsErrorKind.WriteError, $"writing the export of {source} failed: {e.Message}", source, e);
        }
    }

    private static byte[] ReadFile(string path)
    {
        try { return File.ReadAllBytes(path); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new PbsException("ArchiveFileMissing", PbsErrorKind.ObjectNotFound, $"archive file {path} is missing", path, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PbsException("ArchiveReadFailed", PbsErrorKind.ReadError, $"reading {path} failed: {e.Message}", path, e);
        }
    }
}
