using System.Security.Cryptography;
using PbsDatastore.Core.Native;

namespace PbsDatastore.Core;

/// <summary>PBS's <c>replace_file</c> (§12.1): write a <c>.tmp_XXXXXX</c> sibling, set mode (and owner), rename over the target.</summary>
public static class AtomicFile
{
    private const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    /// <summary>
    /// Replaces <paramref name="path"/> with <paramref name="data"/>. With <paramref name="ownerFrom"/> and running as
    /// root, the file gets that path's owner and group (a datastore's files must stay backup:backup).
    /// </summary>
    public static void Replace(string path, ReadOnlySpan<byte> data, UnixFileMode mode = (UnixFileMode)0b110_100_100, string? ownerFrom = null)
    {
        var temp = TempName(path);
        try
        {
            using (var fs = new FileStream(temp, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
                fs.Write(data);
            File.SetUnixFileMode(temp, mode);
            if (ownerFrom is not null && Libc.GetEuid() == 0 && Libc.TryStat(ownerFrom, out var owner) == 0)
                Libc.Chown(temp, owner.Uid, owner.Gid);
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw new PbsException("WriteFailed", PbsErrorKind.WriteError, $"unable to replace file '{path}' - {e.Message}", path, e);
        }
    }

    /// <summary>The last extension replaced by <c>tmp_XXXXXX</c> (a leading dot is no extension).</summary>
    private static string TempName(string path)
    {
        var name = Path.GetFileName(path);
        var dot = name.LastIndexOf('.');
        var stem = dot > 0 ? name[..dot] : name;
        var suffix = string.Create(6, 0, (span, _) =>
        {
            for (var i = 0; i < span.Length; i++) span[i] = Alphabet[RandomNumberGenerator.GetInt32(Alphabet.Length)];
        });
        return Path.Combine(Path.GetDirectoryName(path)!, $"{stem}.tmp_{suffix}");
    }
}
