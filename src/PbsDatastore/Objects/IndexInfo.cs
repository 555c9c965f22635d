namespace PbsDatastore.Objects;

/// <summary>Header facts and chunk entries of a fixed (.fidx) or dynamic (.didx) index file.</summary>
public sealed class IndexInfo
{
    public required string Path { get; init; }
    /// <summary>The archive name (file name), e.g. drive-scsi0.img.fidx.</summary>
    public required string ArchiveName { get; init; }
    /// <summary>fixed or dynamic.</summary>
    public required string Kind { get; init; }
    public required string Magic { get; init; }
    public required string Uuid { get; init; }
    public required DateTimeOffset CTime { get; init; }
    /// <summary>index_csum from the header.</summary>
    public required string IndexCsum { get; init; }
    /// <summary>SHA-256 over the entries as stored.</summary>
    public required string ComputedCsum { get; init; }
    /// <summary>Logical size: the header size (fixed) or the end of the last entry (dynamic).</summary>
    public required long Size { get; init; }
    /// <summary>Fixed indexes only.</summary>
    public long? ChunkSize { get; init; }
    public required long FileSize { get; init; }
    public required IndexEntryInfo[] Entries { get; init; }
    /// <summary>Set when the index was read from a snapshot.</summary>
    public SnapshotInfo? Snapshot { get; init; }

    public int ChunkCount => Entries.Length;
    public bool CsumOk => string.Equals(IndexCsum, ComputedCsum, StringComparison.Ordinal);

    public override string ToString() => Path;
}

/// <summary>One chunk reference of an index: its byte range in the archive and its digest.</summary>
public sealed class IndexEntryInfo
{
    public required int Index { get; init; }
    public required long Start { get; init; }
    public required long End { get; init; }
    public required string Digest { get; init; }

    public long Length => End - Start;

    public override string ToString() => Digest;
}
