using System.Text;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Native;
using PbsDatastore.Core.Store;

namespace PbsDatastore.Core.S3;

/// <summary>
/// A read-only view of an S3 store whose chunk store is the bucket's `STORE/.chunks/` listing, taken once: a chunk
/// or `.N.bad` file exists when its object does, with the object's size, as PBS 4.2's GC counts them (addendum
/// §2.8, §4.6); the cache's zero-length markers say nothing about size or presence. The snapshot tree (indexes),
/// chunk reads and everything else come from the S3 backend. Space accounting, chunk references and unreferenced
/// chunks run on it unchanged. Memory: about 60 bytes per listed object.
/// </summary>
internal sealed class S3ChunkListing : IDatastoreBackend
{
    private readonly record struct Listed(string Name, long Size, long ModifiedSeconds);

    private readonly S3Backend _s3;
    // Per prefix directory: the objects' file names (`DIGEST` or `DIGEST.N.bad`), sorted ordinally.
    private readonly Listed[]?[] _prefixes = new Listed[]?[ChunkLayout.PrefixCount];

    private S3ChunkListing(S3Backend s3, ITaskState state)
    {
        _s3 = s3;
        var lists = new List<Listed>?[ChunkLayout.PrefixCount];
        long count = 0;
        foreach (var o in s3.Client.ListObjects(s3.Keys.ChunksPrefix))
        {
            if (++count % 10_000 == 0)
            {
                state.CheckAbort();
                state.Progress(4, "Listing the bucket's chunks", $"{count} objects", -1);
            }
            if (s3.Keys.ParseChunkKey(o.Key) is not { } chunk) continue;
            var prefix = chunk.Digest.PrefixIndex;
            (lists[prefix] ??= new()).Add(new Listed(chunk.FileName, o.Size, o.LastModified?.ToUnixTimeSeconds() ?? 0));
        }
        state.Complete(4, "Listing the bucket's chunks");
        for (var i = 0; i < lists.Length; i++)
            if (lists[i] is { } list) _prefixes[i] = list.OrderBy(l => l.Name, StringComparer.Ordinal).ToArray();
    }

    /// <summary>The listing view of an S3 store; any other store as it is.</summary>
    public static IDatastoreBackend Over(IDatastoreBackend store, ITaskState state)
        => store is S3Backend s3 ? new S3ChunkListing(s3, state) : store;

    public string Name => _s3.Name;
    public string BasePath => _s3.BasePath;
    public string ChunkPath(in ChunkDigest digest, string suffix = "") => _s3.ChunkPath(digest, suffix);

    public int StatChunk(in ChunkDigest digest, ReadOnlySpan<byte> suffix, out ChunkFileStat stat)
    {
        stat = default;
        if (_prefixes[digest.PrefixIndex] is not { } listed) return Libc.ENOENT;
        var name = digest + Encoding.ASCII.GetString(suffix);
        var at = Array.BinarySearch(listed, new Listed(name, 0, 0), ByName.Instance);
        if (at < 0) return Libc.ENOENT;
        stat = ToStat(listed[at]);
        return 0;
    }

    public int OpenChunkDirectory(int prefix, out IStoreDirectory? directory)
    {
        directory = _prefixes[prefix] is { } listed ? new ListedPrefix(prefix, listed) : null;
        return directory is null ? Libc.ENOENT : 0;
    }

    public int ReadChunk(in ChunkDigest digest, out byte[]? buffer, out long length) => _s3.ReadChunk(digest, out buffer, out length);
    public int OpenRoot(out IStoreDirectory? directory) => _s3.OpenRoot(out directory);
    public int ReadFile(ReadOnlySpan<byte> relativePath, byte[]? spare, out byte[]? data, out bool opened)
        => _s3.ReadFile(relativePath, spare, out data, out opened);
    public int StatFile(ReadOnlySpan<byte> relativePath, out ChunkFileStat stat) => _s3.StatFile(relativePath, out stat);

    // A view for reading: nothing through it changes the bucket or the cache.
    public int TouchChunk(in ChunkDigest digest, ReadOnlySpan<byte> suffix) => Libc.EROFS;
    public int RenameNoReplace(string fromRelativePath, string toRelativePath) => Libc.EROFS;
    public ChunkInsertResult InsertChunk(in ChunkDigest digest, DataBlob blob, ITaskState? state = null) => throw ReadOnly();
    public string? RenameCorruptChunk(in ChunkDigest digest, ITaskState state) => throw ReadOnly();
    public void CheckAtimeUpdates() => throw ReadOnly();

    private static InvalidOperationException ReadOnly() => new("the bucket listing of an S3 store is read-only");

    // The owner (the S3 backend) belongs to the datastore.
    public void Dispose() { }

    private static ChunkFileStat ToStat(in Listed l) => new(l.Size, l.ModifiedSeconds, l.ModifiedSeconds, StoreEntryType.File);

    private sealed class ByName : IComparer<Listed>
    {
        public static readonly ByName Instance = new();
        public int Compare(Listed a, Listed b) => string.CompareOrdinal(a.Name, b.Name);
    }

    private sealed class ListedPrefix(int prefix, Listed[] listed) : IStoreDirectory
    {
        private readonly byte[] _relativePath = Encoding.ASCII.GetBytes($"{ChunkLayout.ChunkDirName}/{ChunkLayout.PrefixDirName(prefix)}");
        private int _at = -1;
        private byte[] _name = [];

        public ReadOnlySpan<byte> RelativePath => _relativePath;
        public int Errno => 0;
        public ReadOnlySpan<byte> Name => _name;
        public StoreEntryType Type => StoreEntryType.File;

        public bool MoveNext()
        {
            if (++_at >= listed.Length) return false;
            _name = Encoding.ASCII.GetBytes(listed[_at].Name);
            return true;
        }

        public int Stat(out ChunkFileStat stat)
        {
            stat = ToStat(listed[_at]);
            return 0;
        }

        public int Remove() => Libc.EROFS;

        public int OpenDirectory(ReadOnlySpan<byte> name, out IStoreDirectory? child)
        {
            child = null;
            return Libc.ENOTDIR;
        }

        public void Dispose() { }
    }
}
