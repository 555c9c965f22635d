using System.Text.RegularExpressions;

namespace PbsDatastore.Core;

/// <summary>
/// PBS's name rules (pbs-api-types), translated to .NET: every `^…$` becomes `\A…\z` because .NET's `$` also
/// matches before a final newline, and POSIX classes are spelled out. A name is validated here before it ever
/// becomes part of a path, so `..`, `/`, NUL and control characters never reach the file system.
/// </summary>
public static partial class PbsNames
{
    /// <summary>MAX_NAMESPACE_DEPTH: 7 components below the root.</summary>
    public const int MaxNamespaceDepth = 7;

    /// <summary>MAX_BACKUP_NAMESPACE_LENGTH = 32 × 8, for the display form.</summary>
    public const int MaxNamespaceLength = 256;

    /// <summary>The namespace API's limit for one component (creation only).</summary>
    public const int MaxNamespaceComponentLength = 32;

    /// <summary>A file name longer than this cannot exist on Linux file systems.</summary>
    public const int MaxFileNameBytes = 255;

    public const string SafeIdPattern = "[A-Za-z0-9_][A-Za-z0-9._\\-]*";

    [GeneratedRegex(@"\A[A-Za-z0-9_][A-Za-z0-9._\-]*\z", RegexOptions.CultureInvariant)]
    public static partial Regex SafeId();

    /// <summary>Backup ID (same as SAFE_ID).</summary>
    public static Regex BackupId() => SafeId();

    [GeneratedRegex(@"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\z", RegexOptions.CultureInvariant)]
    public static partial Regex BackupTime();

    /// <summary>A snapshot's file list: names matching `^.*\.([fd]idx|blob)$`.</summary>
    [GeneratedRegex(@"\A.*\.(?:[fd]idx|blob)\z", RegexOptions.CultureInvariant | RegexOptions.Singleline)]
    public static partial Regex BackupFile();

    /// <summary>User name of an Auth-ID: `[^\s:/[:cntrl:]]+`.</summary>
    [GeneratedRegex(@"\A[^\s:/\x00-\x1F\x7F]+\z", RegexOptions.CultureInvariant)]
    public static partial Regex UserName();

    [GeneratedRegex(@"\A[a-f0-9]{64}\z", RegexOptions.CultureInvariant)]
    public static partial Regex Sha256Hex();

    public static bool IsSafeId(string? s) => s != null && SafeId().IsMatch(s);

    public static bool IsValidBackupId(string? id)
        => id != null && SafeId().IsMatch(id) && id.Length <= MaxFileNameBytes;

    /// <summary>Throws InvalidBackupId unless <paramref name="id"/> is a PBS backup ID usable as a directory name.</summary>
    public static string ValidateBackupId(string? id)
    {
        if (id == null || !IsValidBackupId(id))
            throw new PbsException("InvalidBackupId", PbsErrorKind.InvalidArgument,
                $"invalid backup id {Quote(id)} - must match {SafeIdPattern} (letters, digits, '_', '.', '-'; not starting with '.' or '-') and be at most {MaxFileNameBytes} bytes",
                id);
        return id;
    }

    public static bool IsValidNamespaceComponent(string? name) => name != null && SafeId().IsMatch(name);

    /// <summary>Throws InvalidNamespace unless <paramref name="name"/> is a namespace component (SAFE_ID).</summary>
    public static string ValidateNamespaceComponent(string? name)
    {
        if (name != null && name.Contains('/'))
            throw new PbsException("InvalidNamespace", PbsErrorKind.InvalidArgument,
                "namespace component contained a slash", name);
        if (!IsValidNamespaceComponent(name))
            throw new PbsException("InvalidNamespace", PbsErrorKind.InvalidArgument,
                $"not a valid namespace component: {Quote(name)}", name);
        return name!;
    }

    /// <summary>Printable form of a possibly hostile name for error messages (control characters escaped).</summary>
    public static string Quote(string? s)
    {
        if (s == null) return "(null)";
        var sb = new System.Text.StringBuilder(s.Length + 2).Append('"');
        foreach (var c in s)
        {
            if (c < 0x20 || c == 0x7F) sb.Append($"\\x{(int)c:x2}");
            else if (c == '"' || c == '\\') sb.Append('\\').Append(c);
            else sb.Append(c);
        }
        return sb.Append('"').ToString();
    }
}
