using System.Management.Automation;
using PbsDatastore.Core;

namespace PbsDatastore.Infrastructure;

/// <summary>Checks on raw argument strings before they become wildcard patterns or file-system paths.</summary>
internal static class Arguments
{
    /// <summary>
    /// A wildcard pattern, checked now: an invalid one such as "[" would otherwise fail at its first match with a
    /// runtime exception that carries no ErrorId.
    /// </summary>
    public static WildcardPattern Pattern(string text)
    {
        var pattern = new WildcardPattern(text, WildcardOptions.None);
        try { pattern.IsMatch(""); }
        catch (WildcardPatternException e)
        {
            throw new PbsException("InvalidWildcardPattern", PbsErrorKind.InvalidArgument, $"invalid wildcard pattern \"{text}\" - {e.Message}", text, e);
        }
        return pattern;
    }

    /// <summary>The file-system path of a PowerShell path; a NUL character, which no Linux path can hold, is an error.</summary>
    public static string FullPath(string path, Func<string, string> resolve)
        => path.Contains('\0')
            ? throw new PbsException("InvalidPath", PbsErrorKind.InvalidArgument, $"path \"{path.Replace("\0", "\\0")}\" contains a NUL character", path)
            : resolve(path);
}
