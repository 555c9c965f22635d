using System.Security.Cryptography;
using System.Text;

namespace PbsDatastore.Core.Locking;

/// <summary>
/// Paths of PBS's lock files under the lock root (<see cref="PbsPaths.LockRoot"/>): the 2.2–3.2.4 manifest lock
/// (`&lt;store&gt;/&lt;ns path&gt;/&lt;type&gt;/&lt;id&gt;/&lt;time&gt;/&lt;time&gt;.index.json.lck`) and the 3.3.5+ lock files
/// (namespace components joined by `:`, systemd-escaped relative path, hashed name from 255 escaped bytes on).
/// </summary>
public static class LockPaths
{
    public const string ManifestLockName = ".index.json.lck";

    /// <summary>At this many escaped bytes PBS switches to the `hashed/` name.</summary>
    public const int HashThreshold = 255;

    private const int HashedKeep = 80;

    public static string StoreLockDir(string store) => Path.Combine(PbsPaths.LockRoot, store);

    /// <summary>PBS's `lock_file_path_helper`: the lock file of relative path <paramref name="relative"/>.</summary>
    public static string LockFile(string store, IReadOnlyList<string> namespaceComponents, string relative)
    {
        var dir = StoreLockDir(store);
        if (namespaceComponents.Count > 0) dir = Path.Combine(dir, string.Join(':', namespaceComponents));
        var escaped = EscapeUnit(relative);
        if (escaped.Length < HashThreshold) return Path.Combine(dir, escaped);
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(relative)));
        var name = escaped[..HashedKeep] + "..." + escaped[^HashedKeep..] + "-" + hash;
        return Path.Combine(dir, "hashed", name);
    }

    /// <summary>
    /// systemd unit-name escaping of a path (`escape_unit(s, is_path=true)`): leading `/` stripped,
    /// runs of `/` → one `-`, `[A-Za-z0-9_.]` kept except a leading `.`, every other byte as `\xNN` (lowercase hex). Result is ASCII.
    /// </summary>
    public static string EscapeUnit(string path)
    {
        var bytes = Encoding.UTF8.GetBytes(path.TrimStart('/'));
        if (bytes.Length == 0) return "-";
        var sb = new StringBuilder(bytes.Length * 2);
        for (var i = 0; i < bytes.Length; i++)
        {
            var b = bytes[i];
            if (b == (byte)'/') { if (bytes[i - 1] != (byte)'/') sb.Append('-'); }
            else if ((b == (byte)'.' && i > 0) || b == (byte)'_' || char.IsAsciiLetterOrDigit((char)b)) sb.Append((char)b);
            else sb.Append("\\x").Append(b.ToString("x2"));
        }
        return sb.ToString();
    }
}
