using PbsDatastore.Core.Formats;

namespace PbsDatastore.Objects;

/// <summary>Header facts and chunk entries of a fixed (.fidx) or dynamic (.didx) index file.</summary>
public sealed class IndexInfo
{
    public IndexInfo(IndexFile index, SnapshotInfo? snapshot = null)
    {
        IndexFile = index;
        Snapshot = snapshot;
        var entries = new IndexEntryInfo[index.Count];
        for (var i = 0; i < entries.Length; i++)
            entries[i] = new IndexEntryInfo(i, index.ChunkStart(i), index.ChunkEnd(i), index.DigestAt(i).ToString());
        Entries = entries;
        ComputedCsum = Convert.ToHexStringLower(index.ComputeCsum());
    }

    /// <summary>The core reader, for scripts that want its methods.</summary>
    public IndexFile IndexFile { get; }
    /// <summary>Set when the index was read from a snapshot.</summary>
    public SnapshotInfo? Snapshot { get; }
    public string Path => IndexFile.Path;
    /// <summary>The archive name (file name), e.g. drive-scsi0.img.fidx.</summary>
    public string ArchiveName => System.IO.Path.GetFileName(Path);
    /// <summary>fixed or dynamic.</summary>
    public string Kind => IndexFile.Kind == IndexKind.Fixed ? "fixed" : "dynamic";
    public string Magic => Convert.ToHexStringLower(IndexFile.Magic);
    public string Uuid => IndexFile.UuidHex;
    public DateTime CTime => DateTimeOffset.FromUnixTimeSeconds(IndexFile.CTime).LocalDateTime;
    /// <summary>index_csum from the header.</summary>
    public string IndexCsum => Convert.ToHexStringLower(IndexFile.IndexCsum);
    /// <summary>SHA-256 over the entries as stored.</summary>
    public string ComputedCsum { get; }
    public bool CsumOk => IndexCsum == ComputedCsum;
    /// <summary>Logical size: the header size (fixed) or the end of the last entry (dynamic).</summary>
    public long Size => IndexFile.IndexBytes;
    /// <summary>Fixed indexes only.</summary>
    public long? ChunkSize => (IndexFile as FixedIndex)?.ChunkSize;
    public long FileSize => IndexFile.FileSize;
    public int ChunkCount => Entries.Length;
    public IndexEntryInfo[] Entries { get; }

    public override string ToString() => Path;
}

/// <summary>One chunk reference of an index: its byte range in the archive and its digest.</summary>
public sealed class IndexEntryInfo(int index, long start, long end, string digest)
{
    public int Index { get; } = index;
    public long Start { get; } = start;
    public long End { get; } = end;
    public long Length => End - Start;
    public string Digest { get; } = digest;

    public override string ToString() => Digest;
}
