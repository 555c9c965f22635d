namespace PbsDatastore.Core.Backup;

/// <summary>What kind of archive a snapshot file is; PBS decides it by the last extension alone.</summary>
public enum ArchiveType
{
    FixedIndex,
    DynamicIndex,
    Blob,
}

/// <summary>
/// Archive names as PBS's client forms them from a label, by its last extension alone (never by size):
/// `&lt;label&gt;.img` becomes a fixed index (`.img.fidx`), `&lt;label&gt;.conf` and `&lt;label&gt;.log` blobs
/// (`.conf.blob`), anything else a dynamic index (`.didx`). A label that already ends in `.fidx`, `.didx` or
/// `.blob` is taken as it is, so any input can be stored as a blob by naming it `*.blob`.
/// </summary>
public static class ArchiveNames
{
    /// <summary>PBS's limit for one blob's data (`data blob too large`).</summary>
    public const long MaxBlobSize = 128L << 20;

    public static ArchiveType TypeOf(string archiveName)
    {
        var ext = Path.GetExtension(archiveName);
        return ext switch
        {
            ".fidx" => ArchiveType.FixedIndex,
            ".didx" => ArchiveType.DynamicIndex,
            ".blob" => ArchiveType.Blob,
            _ => throw new PbsException("UnknownArchiveType", PbsErrorKind.InvalidArgument,
                $"unknown archive type: \"{archiveName}\"", archiveName),
        };
    }

    /// <summary>
    /// The archive name for <paramref name="label"/> (e.g. `drive-scsi0.img`, `root.pxar`, `qemu-server.conf`).
    /// Validated with PBS's SAFE_ID rule.
    /// </summary>
    public static string ForInput(string label)
    {
        string name;
        if (label.EndsWith(".fidx", StringComparison.Ordinal) || label.EndsWith(".didx", StringComparison.Ordinal) ||
            label.EndsWith(".blob", StringComparison.Ordinal))
            name = label;
        else if (label.EndsWith(".img", StringComparison.Ordinal))
            name = label + ".fidx";
        else if (label.EndsWith(".conf", StringComparison.Ordinal) || label.EndsWith(".log", StringComparison.Ordinal))
            name = label + ".blob";
        else
            name = label + ".didx";
        Validate(name);
        return name;
    }

    /// <summary>Names the manifest may list: SAFE_ID, a known extension, never the manifest or the client log.</summary>
    public static void Validate(string archiveName)
    {
        if (!PbsNames.IsSafeId(archiveName) || archiveName.Length > PbsNames.MaxFileNameBytes)
            throw new PbsException("InvalidArchiveName", PbsErrorKind.InvalidArgument,
                $"invalid archive name \"{archiveName}\" (allowed: letters, digits, '_', '.', '-'; not starting with '.' or '-')",
                archiveName);
        if (archiveName is ManifestName or ClientLogName)
            throw new PbsException("InvalidArchiveName", PbsErrorKind.InvalidArgument,
                $"\"{archiveName}\" is reserved by PBS", archiveName);
        TypeOf(archiveName);
    }

    public const string ManifestName = "index.json.blob";
    public const string ClientLogName = "client.log.blob";

    /// <summary>
    /// Finds <paramref name="requested"/> among <paramref name="archives"/>: the exact name, or the name plus the
    /// index/blob extension (`drive-scsi0.img` finds `drive-scsi0.img.fidx`).
    /// </summary>
    public static string? Resolve(string requested, IEnumerable<string> archives)
    {
        string? match = null;
        foreach (var name in archives)
        {
            if (name == requested)
                return name;
            if (name.Length == requested.Length + 5 && name.StartsWith(requested, StringComparison.Ordinal) &&
                name[requested.Length] == '.')
                match ??= name;
        }
        return match;
    }
}
