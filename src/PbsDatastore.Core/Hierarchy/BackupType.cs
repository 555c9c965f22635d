namespace PbsDatastore.Core.Hierarchy;

/// <summary>PBS backup types. The enum order is PBS's sort order (ct &lt; host &lt; vm).</summary>
public enum BackupType
{
    Ct,
    Host,
    Vm,
}

public static class BackupTypes
{
    public static readonly IReadOnlyList<BackupType> All = [BackupType.Ct, BackupType.Host, BackupType.Vm];

    /// <summary>The directory / API name: `ct`, `host`, `vm`.</summary>
    public static string ToPbsString(this BackupType type) => type switch
    {
        BackupType.Ct => "ct",
        BackupType.Host => "host",
        BackupType.Vm => "vm",
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    /// <summary>Case-sensitive, as PBS parses it.</summary>
    public static bool TryParse(string? s, out BackupType type)
    {
        switch (s)
        {
            case "ct": type = BackupType.Ct; return true;
            case "host": type = BackupType.Host; return true;
            case "vm": type = BackupType.Vm; return true;
            default: type = default; return false;
        }
    }

    public static BackupType Parse(string? s)
        => TryParse(s, out var t) ? t
            : throw new PbsException("InvalidBackupType", PbsErrorKind.InvalidArgument,
                $"invalid backup type {PbsNames.Quote(s)}", s);
}
