using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Memory;
using PbsDatastore.Core.Native;
using PbsDatastore.Core.Store;

namespace PbsDatastore.Core.S3;

/// <summary>
/// A read-only view of an S3 store whose chunk store is the bucket's `STORE/.chunks/` listing: a chunk or `.N.bad`
/// file exists when its object does, with the object's size, as PBS 4.2's GC counts them (addendum §2.8, §4.6);
/// the cache's zero-length markers say nothing about size or presence. The snapshot tree (indexes), chunk reads
/// and everything else come from the S3 backend. Space accounting, chunk references and unreferenced chunks run on
/// it unchanged. The listing is held one slice at a time (<see cref="ISliceListing"/>): a partitioned pass lists
/// its slice and keeps the objects of its own set only; a caller that names no slice gets the whole listing on
/// first use. Memory: <see cref="BytesPerObject"/> per kept object.
/// </summary>
internal sealed class S3ChunkListing : IDatastoreBackend, ISliceListing
{
    /// <summary>A kept object, sorted by digest then `.N.bad` number (-1 for the chunk itself).</summary>
    private readonly record struct Listed(ChunkDigest Digest, long Size, long ModifiedSeconds, int BadIndex) : IComparable<Listed>
    {
        public int CompareTo(Listed other) => Digest.CompareTo(other.Digest) is var c && c != 0 ? c : BadIndex.CompareTo(other.BadIndex);
    }

    public int BytesPerObject => Unsafe.SizeOf<Listed>();

    private readonly S3Backend _s3;
    private readonly ITaskState _state;
    private readonly object _gate = new();
    private List<Listed>? _listed;

    private S3ChunkListing(S3Backend s3, ITaskState state)
    {
        _s3 = s3;
        _state = state;
    }

    public void ListSlice(DigestRange range, KeepDigest keep, long expected = 0)
    {
        lock (_gate)
        {
            _listed = null; // the previous slice goes before the next one fills
            var kept = new List<Listed>((int)Math.Min(expected, Array.MaxLength));
            // The objects of one digest, adjacent in key order (`HEX` sorts just before `HEX.N.bad`), judged together.
            var group = new List<Listed>();
            var groupHasBad = false;
            void Judge()
            {
                if (group.Count > 0 && keep(group[0].Digest, groupHasBad)) kept.AddRange(group);
                group.Clear();
                groupHasBad = false;
            }
            long count = 0;
            foreach (var o in _s3.ListChunkObjects(range))
            {
                if (++count % 10_000 == 0)
                {
                    _state.CheckAbort();
                    _state.Progress(4, "Listing the bucket's chunks", $"{count} objects", -1);
                }
                if (_s3.Keys.ParseChunkKey(o.Key) is not { } chunk) continue;
                if (group.Count > 0 && group[0].Digest != chunk.Digest) Judge();
                group.Add(new Listed(chunk.Digest, o.Size, o.LastModified?.ToUnixTimeSeconds() ?? 0, chunk.BadIndex ?? -1));
                groupHasBad |= chunk.BadIndex is not null;
            }
            Judge();
            _state.Complete(4, "Listing the bucket's chunks");
            kept.Sort();
            _listed = kept;
        }
    }

    /// <summary>The listing: the slice last listed, else (on first use) the whole bucket's.</summary>
    private List<Listed> Current
    {
        get
        {
            if (Volatile.Read(ref _listed) is { } listed) return listed;
            lock (_gate)
            {
                if (_listed is null) ListSlice(DigestRange.All, (_, _) => true);
                return _listed!;
            }
        }
    }

    /// <summary>Index of the first object whose digest's leading 64 bits are not below <paramref name="word"/>.</summary>
    private static int LowerBound(List<Listed> listed, ulong word)
    {
        int lo = 0, hi = listed.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (listed[mid].Digest.LeadingWord < word) lo = mid + 1;
            else hi = mid;
        }
        return lo;
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
        var bad = -1;
        if (suffix.Length > 0 && !TryParseBadSuffix(Encoding.ASCII.GetString(suffix), out bad)) return Libc.ENOENT;
        var listed = Current;
        for (var at = LowerBound(listed, digest.LeadingWord); at < listed.Count && listed[at].Digest.LeadingWord == digest.LeadingWord; at++)
        {
            if (listed[at].Digest != digest || listed[at].BadIndex != bad) continue;
            stat = ToStat(listed[at]);
            return 0;
        }
        return Libc.ENOENT;
    }

    // `.N.bad`, N as a key's name carries it.
    private static bool TryParseBadSuffix(string suffix, out int index)
    {
        index = -1;
        return suffix.Length >= 6 && suffix[0] == '.' && suffix.EndsWith(".bad", StringComparison.Ordinal)
               && int.TryParse(suffix.AsSpan(1, suffix.Length - 5), NumberStyles.None, CultureInfo.InvariantCulture, out index);
    }

    public int OpenChunkDirectory(int prefix, out IStoreDirectory? directory)
    {
        var listed = Current;
        var first = LowerBound(listed, (ulong)prefix << DigestPartitions.PrefixDirectoryBits);
        var end = first;
        while (end < listed.Count && listed[end].Digest.PrefixIndex == prefix) end++;
        directory = end > first ? new ListedPrefix(prefix, listed, first, end) : null;
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

    private sealed class ListedPrefix(int prefix, List<Listed> listed, int first, int end) : IStoreDirectory
    {
        private readonly byte[] _relativePath = Encoding.ASCII.GetBytes($"{ChunkLayout.ChunkDirName}/{ChunkLayout.PrefixDirName(prefix)}");
        private int _at = first - 1;
        private byte[] _name = [];

        public ReadOnlySpan<byte> RelativePath => _relativePath;
        public int Errno => 0;
        public ReadOnlySpan<byte> Name => _name;
        public StoreEntryType Type => StoreEntryType.File;

        public bool MoveNext()
        {
            if (++_at >= end) return false;
            var l = listed[_at];
            _name = Encoding.ASCII.GetBytes(l.BadIndex < 0 ? l.Digest.ToString() : $"{l.Digest}.{l.BadIndex}.bad");
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
