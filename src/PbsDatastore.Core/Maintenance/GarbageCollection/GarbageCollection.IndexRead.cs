using PbsDatastore.Core.Native;
using PbsDatastore.Core.Store;

namespace PbsDatastore.Core.Maintenance;

public static partial class GarbageCollection
{
    /// <summary>
    /// Reads a whole index file by its raw path relative to the datastore; null when it vanished. Other failures
    /// abort with PBS's <c>can't open index</c> message. <paramref name="spare"/> is reused when it has the file's
    /// length (consecutive snapshots of one disk have equal-sized indexes), so marking does not churn the
    /// large-object heap with one array per index.
    /// </summary>
    internal static byte[]? ReadIndexFile(IDatastoreBackend store, ReadOnlySpan<byte> relativePath, string displayPath, byte[]? spare)
    {
        var errno = store.ReadFile(relativePath, spare, out var data, out var opened);
        if (errno == 0) return data;
        if (!opened && errno == Libc.ENOENT) return null;
        if (!opened)
            throw new PbsException("GcIndexOpenFailed", PbsErrorKind.ReadError, $"can't open index {displayPath} - {Libc.StrError(errno)}", displayPath);
        throw IndexUnreadable(displayPath, errno == Libc.EFBIG ? "index file too large" : Libc.StrError(errno));
    }

    internal static PbsException IndexUnreadable(string path, string detail, Exception? inner = null)
        => new("GcIndexUnreadable", PbsErrorKind.InvalidData, $"can't read index '{path}' - {detail}", path, inner);
}
