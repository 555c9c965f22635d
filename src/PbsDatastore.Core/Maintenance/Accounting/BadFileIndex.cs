using System.Collections.Concurrent;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Store;

namespace PbsDatastore.Core.Maintenance;

/// <summary>
/// The `.bad` files of the chunk store, read one prefix directory at a time when first asked (safe for
/// concurrent use). Verify renames a corrupt chunk to `&lt;hex&gt;.&lt;N&gt;.bad`; GC keeps exactly the names
/// `&lt;hex&gt;.0.bad` … `&lt;hex&gt;.9.bad` alive while an index needs the missing chunk.
/// </summary>
internal sealed class BadFileIndex(IDatastoreBackend store)
{
    private readonly ConcurrentDictionary<int, Lazy<ILookup<ChunkDigest, ChunkEntry>>> _byPrefix = new();

    /// <summary>Every `.bad` entry whose name spells <paramref name="digest"/>.</summary>
    public IEnumerable<ChunkEntry> For(ChunkDigest digest)
        => _byPrefix.GetOrAdd(digest.PrefixIndex, prefix => new Lazy<ILookup<ChunkDigest, ChunkEntry>>(() =>
        {
            var entries = new List<ChunkEntry>();
            store.ReadPrefixDir(prefix, entries);
            return entries.Where(e => e.IsBad).ToLookup(e => e.Digest);
        })).Value[digest];

    /// <summary>Bytes of the regular `.N.bad` files GC touches for <paramref name="digest"/> when its chunk is missing.</summary>
    public long KeptAliveBytes(ChunkDigest digest)
    {
        var hex = digest.ToString();
        long bytes = 0;
        foreach (var entry in For(digest))
            if (IsKeptAliveName(entry.Name, hex) && store.Stat(entry) is { IsRegularFile: true } st)
                bytes += st.Size;
        return bytes;
    }

    private static bool IsKeptAliveName(string name, string hex)
        => name.Length == 70 && name.StartsWith(hex, StringComparison.Ordinal) && name[64] == '.'
           && char.IsAsciiDigit(name[65]) && name.EndsWith(".bad", StringComparison.Ordinal);
}
