using System.Buffers.Binary;
using PbsDatastore.Core.Native;

namespace PbsDatastore.Core.Formats;

/// <summary>
/// What both index writers share (PBS §3.4): a `tmp_fidx`/`tmp_didx` file beside the target holding the header
/// with a zero checksum; on close the checksum goes in at offset 32 and the file is renamed into place (no fsync);
/// disposing an unclosed writer deletes the temp file. Run as root, the file is given to backup:backup.
/// </summary>
public abstract class IndexWriter : IDisposable
{
    private protected readonly FileStream Stream;
    private bool _closed;
    private bool _disposed;

    private protected IndexWriter(string path, string tempExtension, ReadOnlySpan<byte> magic, ReadOnlySpan<byte> uuid, long? ctime)
    {
        if (!uuid.IsEmpty && uuid.Length != 16)
            throw new PbsException("InvalidIndexUuid", PbsErrorKind.InvalidArgument, $"index uuid must be 16 bytes, got {uuid.Length}", path);
        Path = path;
        TempPath = AtomicFile.WithExtension(path, tempExtension);
        Header = new byte[IndexFile.HeaderSize];
        magic.CopyTo(Header);
        if (uuid.IsEmpty) Guid.NewGuid().TryWriteBytes(Header.AsSpan(8, 16), bigEndian: true, out _);
        else uuid.CopyTo(Header.AsSpan(8));
        BinaryPrimitives.WriteInt64LittleEndian(Header.AsSpan(24), ctime ?? DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        try
        {
            Stream = new FileStream(TempPath, FileMode.Create, FileAccess.ReadWrite, FileShare.Read, 64 * 1024);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PbsException("IndexCreateFailed", e is UnauthorizedAccessException ? PbsErrorKind.PermissionDenied : PbsErrorKind.WriteError,
                $"unable to create index file \"{TempPath}\" - {e.Message}", path, e);
        }
        if (BackupOwner.ForNewFiles() is var (uid, gid) && Libc.Chown(TempPath, uid, gid) != 0)
        {
            var errno = Libc.LastErrno;
            Dispose();
            throw new PbsException("IndexCreateFailed", PbsErrorKind.PermissionDenied,
                $"unable to set owner of index file \"{TempPath}\" - {Libc.StrError(errno)}", path);
        }
    }

    /// <summary>Final path of the index.</summary>
    public string Path { get; }

    /// <summary>Where the index is written until <see cref="Close"/> renames it.</summary>
    public string TempPath { get; }

    /// <summary>The header being written (checksum zero until close); fixed writers add size and chunk size.</summary>
    private protected byte[] Header { get; }

    public ReadOnlySpan<byte> Uuid => Header.AsSpan(8, 16);
    public long CTime => BinaryPrimitives.ReadInt64LittleEndian(Header.AsSpan(24));

    /// <summary>Writes the checksum, renames the temp file to <see cref="Path"/> and returns the checksum.</summary>
    public byte[] Close()
    {
        if (_closed) throw Closed("cannot close already closed index file.");
        _closed = true;
        try
        {
            var csum = FinishEntries();
            Stream.Position = 32;
            Stream.Write(csum);
            Stream.Flush();
            Stream.Dispose();
            if (Libc.Rename(TempPath, Path) != 0)
                throw new PbsException("IndexWriteFailed", PbsErrorKind.WriteError,
                    $"Atomic rename file \"{Path}\" failed - {Libc.StrError(Libc.LastErrno)}", Path);
            _disposed = true;
            return csum;
        }
        catch (IOException e)
        {
            throw new PbsException("IndexWriteFailed", PbsErrorKind.WriteError, $"unable to write index \"{TempPath}\" - {e.Message}", Path, e);
        }
        finally
        {
            Dispose();
        }
    }

    /// <summary>Writes whatever entries are still in memory and returns SHA-256 over the whole entry array.</summary>
    private protected abstract byte[] FinishEntries();

    private protected void CheckOpen()
    {
        if (_closed) throw Closed($"cannot write to closed index file \"{Path}\"");
    }

    private protected void WriteOrFail(ReadOnlySpan<byte> bytes)
    {
        try
        {
            Stream.Write(bytes);
        }
        catch (IOException e)
        {
            throw new PbsException("IndexWriteFailed", PbsErrorKind.WriteError, $"unable to write index \"{TempPath}\" - {e.Message}", Path, e);
        }
    }

    private protected void Flush()
    {
        try
        {
            Stream.Flush();
        }
        catch (IOException e)
        {
            throw new PbsException("IndexWriteFailed", PbsErrorKind.WriteError, $"unable to write index \"{TempPath}\" - {e.Message}", Path, e);
        }
    }

    private PbsException Closed(string message) => new("IndexWriterClosed", PbsErrorKind.InvalidOperation, message, Path);

    /// <summary>An abandoned writer leaves nothing behind.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _closed = true;
        Stream?.Dispose();
        Libc.Unlink(TempPath);
    }
}
