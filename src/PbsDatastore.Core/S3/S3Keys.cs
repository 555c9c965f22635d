using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Store;

namespace PbsDatastore.Core.S3;

/// <summary>A chunk object found in the bucket: its digest and, for a renamed corrupt chunk, the `.N.bad` number.</summary>
public readonly record struct S3ChunkObject(string Key, ChunkDigest Digest, int? BadIndex)
{
    /// <summary>The file name in the local cache's prefix directory: `DIGEST` or `DIGEST.N.bad`.</summary>
    public string FileName => BadIndex is { } n ? $"{Digest}.{n}.bad" : Digest.ToString();

    /// <summary>
    /// The matching local file of a store whose cache lives at <paramref name="storePath"/>. The `.N.bad` suffix
    /// is part of the file name exactly once (PBS 4.2.3 appends it a second time as a directory, addendum §4.6).
    /// </summary>
    public string LocalPath(string storePath)
        => Path.Combine(storePath, ChunkLayout.ChunkDirName, ChunkLayout.PrefixDirName(Digest.PrefixIndex), FileName);
}

/// <summary>
/// PBS 4.2's object key layout of an S3-backed datastore (addendum §4.2): every key starts with the datastore
/// name; chunks under `.chunks/`, snapshot files, owner, notes and markers under `.cnt/` with the on-disk
/// relative path, the `.in-use` marker at the top. Prefixes for deleting by prefix always end in `/`, so
/// `vm/100` never matches `vm/1000` (the upstream hazard of §4.7). Content keys take the datastore-relative paths
/// the snapshot tree's objects give (`BackupGroup.RelativePath`, …): the raw layer knows no backup objects.
/// </summary>
public sealed class S3Keys
{
    public const string ContentDir = ".cnt";
    public const string InUseMarkerName = ".in-use";
    public const string NamespaceMarkerName = ".namespace";

    public S3Keys(string store)
    {
        if (!PbsNames.IsSafeId(store))
            throw new PbsException("InvalidDatastoreName", PbsErrorKind.InvalidArgument, $"invalid datastore name {PbsNames.Quote(store)}", store);
        Store = store;
    }

    public string Store { get; }

    /// <summary>`STORE/`: everything of this datastore (destroy with data removal).</summary>
    public string StorePrefix => Store + "/";

    public string InUseMarker => $"{Store}/{InUseMarkerName}";

    /// <summary>`STORE/.chunks/`: what GC phase 2 lists.</summary>
    public string ChunksPrefix => $"{Store}/{ChunkLayout.ChunkDirName}/";

    /// <summary>`STORE/.cnt/`: what an S3 refresh downloads.</summary>
    public string ContentPrefix => $"{Store}/{ContentDir}/";

    public string Chunk(ChunkDigest digest) => $"{ChunksPrefix}{ChunkLayout.PrefixDirName(digest.PrefixIndex)}/{digest}";

    public string BadChunk(ChunkDigest digest, int index) => $"{Chunk(digest)}.{index}.bad";

    /// <summary>The object of a file at <paramref name="relativePath"/> in the datastore (e.g. `ns/a/vm/100/owner`).</summary>
    public string Content(string relativePath) => ContentPrefix + CheckRelative(relativePath, allowEmpty: false);

    /// <summary>The prefix of everything below the directory <paramref name="relativeDir"/>; always ends in `/`.</summary>
    public string ContentDirPrefix(string relativeDir)
    {
        CheckRelative(relativeDir, allowEmpty: true);
        return relativeDir.Length == 0 ? ContentPrefix : $"{ContentPrefix}{relativeDir}/";
    }

    /// <summary>The relative path a `.cnt/` key stands for, or null for keys of another store or outside `.cnt/`.</summary>
    public string? RelativePathOf(string key)
    {
        if (!key.StartsWith(ContentPrefix, StringComparison.Ordinal)) return null;
        var rel = key[ContentPrefix.Length..];
        return IsRelative(rel) ? rel : null;
    }

    /// <summary>
    /// Parses a key listed under <see cref="ChunksPrefix"/>: `PPPP/DIGEST` or `PPPP/DIGEST.N.bad` with PPPP the
    /// digest's first 4 hex digits. Anything else (temp uploads, foreign objects) is null and left alone.
    /// </summary>
    public S3ChunkObject? ParseChunkKey(string key)
    {
        if (!key.StartsWith(ChunksPrefix, StringComparison.Ordinal)) return null;
        var rest = key.AsSpan(ChunksPrefix.Length);
        if (rest.Length < 5 + 64 || rest[4] != '/') return null;
        var name = rest[5..];
        if (!ChunkDigest.TryParse(name[..64], out var digest) || !name[..64].SequenceEqual(digest.ToString())) return null;
        if (!rest[..4].SequenceEqual(ChunkLayout.PrefixDirName(digest.PrefixIndex))) return null;
        if (name.Length == 64) return new S3ChunkObject(key, digest, null);
        var suffix = name[64..];
        if (suffix.Length < 6 || suffix[0] != '.' || !suffix.EndsWith(".bad")) return null;
        var number = suffix[1..^4];
        if (number.Length == 0 || number.Length > 9 || !number.ToString().All(char.IsAsciiDigit)) return null;
        return new S3ChunkObject(key, digest, int.Parse(number));
    }

    private static string CheckRelative(string rel, bool allowEmpty)
    {
        if ((rel.Length == 0 && allowEmpty) || IsRelative(rel)) return rel;
        throw new PbsException("S3KeyInvalid", PbsErrorKind.InvalidArgument, $"not a datastore-relative path: {PbsNames.Quote(rel)}", rel);
    }

    // Plain relative paths only: no leading or doubled '/', no '.' or '..' components, no trailing '/'.
    private static bool IsRelative(string rel)
        => rel.Length > 0 && rel.Split('/').All(c => c.Length > 0 && c != "." && c != ".." && !c.Any(char.IsControl));
}
