using System.Text;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Store;

namespace PbsDatastore.Core.Tests.Support;

/// <summary>
/// Storage failing on purpose, by wrapping a backend (restic's approach): <c>faults</c> is asked with the path
/// relative to the datastore of each directory opened, index read, chunk touched or stat'ed and file removed; a
/// non-zero errno makes that call fail with it, 0 lets it through. Reproduces what cannot be arranged on a real
/// disk, or as root (a permission-denied directory).
/// </summary>
public sealed class FaultyBackend(IDatastoreBackend inner, Func<string, int> faults) : IDatastoreBackend
{
    /// <summary>Asked with the source and target path (relative) of each rename; a non-zero errno fails it.</summary>
    public Func<string, string, int>? Renames { get; init; }

    public string Name => inner.Name;
    public string BasePath => inner.BasePath;

    private static string ChunkRelative(in ChunkDigest digest, ReadOnlySpan<byte> suffix)
    {
        var hex = digest.ToString();
        return $".chunks/{hex[..4]}/{hex}{Encoding.UTF8.GetString(suffix)}";
    }

    public string ChunkPath(in ChunkDigest digest, string suffix = "") => inner.ChunkPath(digest, suffix);

    public int TouchChunk(in ChunkDigest digest, ReadOnlySpan<byte> suffix)
        => faults(ChunkRelative(digest, suffix)) is var errno and not 0 ? errno : inner.TouchChunk(digest, suffix);

    public int StatChunk(in ChunkDigest digest, ReadOnlySpan<byte> suffix, out ChunkFileStat stat)
    {
        stat = default;
        return faults(ChunkRelative(digest, suffix)) is var errno and not 0 ? errno : inner.StatChunk(digest, suffix, out stat);
    }

    public int ReadChunk(in ChunkDigest digest, out byte[]? buffer, out long length)
    {
        (buffer, length) = (null, 0);
        return faults(ChunkRelative(digest, default)) is var errno and not 0 ? errno : inner.ReadChunk(digest, out buffer, out length);
    }

    public ChunkInsertResult InsertChunk(in ChunkDigest digest, DataBlob blob, ITaskState? state = null) => inner.InsertChunk(digest, blob, state);

    public string? RenameCorruptChunk(in ChunkDigest digest, ITaskState state) => inner.RenameCorruptChunk(digest, state);

    public int OpenChunkDirectory(int prefix, out IStoreDirectory? directory)
    {
        directory = null;
        var errno = faults($".chunks/{ChunkLayout.PrefixDirName(prefix)}");
        if (errno == 0) errno = inner.OpenChunkDirectory(prefix, out directory);
        if (directory is not null) directory = new Directory(directory, faults);
        return errno;
    }

    public int OpenRoot(out IStoreDirectory? directory)
    {
        var errno = inner.OpenRoot(out directory);
        if (directory is not null) directory = new Directory(directory, faults);
        return errno;
    }

    public int ReadFile(ReadOnlySpan<byte> relativePath, byte[]? spare, out byte[]? data, out bool opened)
    {
        (data, opened) = (null, false);
        return faults(Encoding.UTF8.GetString(relativePath)) is var errno and not 0 ? errno : inner.ReadFile(relativePath, spare, out data, out opened);
    }

    public int StatFile(ReadOnlySpan<byte> relativePath, out ChunkFileStat stat) => inner.StatFile(relativePath, out stat);

    public int RenameNoReplace(string fromRelativePath, string toRelativePath)
        => (Renames?.Invoke(fromRelativePath, toRelativePath) ?? faults(fromRelativePath)) is var errno and not 0
            ? errno : inner.RenameNoReplace(fromRelativePath, toRelativePath);

    public void CheckAtimeUpdates() => inner.CheckAtimeUpdates();

    public void Dispose() => inner.Dispose();

    private sealed class Directory(IStoreDirectory inner, Func<string, int> faults) : IStoreDirectory
    {
        public ReadOnlySpan<byte> RelativePath => inner.RelativePath;
        public bool MoveNext() => inner.MoveNext();
        public int Errno => inner.Errno;
        public ReadOnlySpan<byte> Name => inner.Name;
        public StoreEntryType Type => inner.Type;
        public int Stat(out ChunkFileStat stat) => inner.Stat(out stat);

        public int Remove() => faults(PathOf(Name)) is var errno and not 0 ? errno : inner.Remove();

        public int OpenDirectory(ReadOnlySpan<byte> name, out IStoreDirectory? child)
        {
            child = null;
            var errno = faults(PathOf(name));
            if (errno == 0) errno = inner.OpenDirectory(name, out child);
            if (child is not null) child = new Directory(child, faults);
            return errno;
        }

        private string PathOf(ReadOnlySpan<byte> name)
            => RelativePath.IsEmpty ? Encoding.UTF8.GetString(name) : $"{Encoding.UTF8.GetString(RelativePath)}/{Encoding.UTF8.GetString(name)}";

        public void Dispose() => inner.Dispose();
    }
}
