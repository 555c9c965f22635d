using PbsDatastore.Core.Native;

namespace PbsDatastore.Core;

/// <summary>
/// PBS's daemon user (backup:backup). Everything PBS must later open, touch or lock has to belong to it: a file
/// created by root without a chown breaks PBS (GC's atime update needs ownership, lock files must open read-write).
/// So when this process runs as root, everything it creates is handed to backup:backup; as any other user the
/// files simply belong to that user (tests, or running as backup itself).
/// </summary>
public static class BackupUser
{
    private static readonly Lazy<(uint Uid, uint Gid)?> Ids = new(() =>
        Libc.UserId("backup") is uint uid && Libc.GroupId("backup") is uint gid ? (uid, gid) : null);

    /// <summary>uid/gid of backup:backup, or null where the machine has no such user.</summary>
    public static (uint Uid, uint Gid)? Resolve() => Ids.Value;

    /// <summary>True when created files must be chowned: running as root and backup:backup exists.</summary>
    public static bool MustChown => Libc.GetEuid() == 0 && Ids.Value is not null;

    /// <summary>Hands a path (not following a final symlink) to backup:backup when running as root.</summary>
    public static void Apply(string path)
    {
        if (!MustChown) return;
        var (uid, gid) = Ids.Value!.Value;
        if (Libc.Lchown(path, uid, gid) != 0)
        {
            var errno = Libc.LastErrno;
            throw new PbsException("ChownFailed", PbsErrorKind.PermissionDenied,
                $"unable to set owner backup:backup on \"{path}\" - {Libc.StrError(errno)}", path);
        }
    }

    /// <summary>Hands an open descriptor to backup:backup when running as root; returns errno (0 on success).</summary>
    internal static int Apply(int fd)
    {
        if (!MustChown) return 0;
        var (uid, gid) = Ids.Value!.Value;
        return Libc.Fchown(fd, uid, gid) == 0 ? 0 : Libc.LastErrno;
    }

    /// <summary>
    /// mkdir -p that hands every directory it creates (not the existing ones) to backup:backup when root.
    /// </summary>
    public static void CreateDirectories(string path)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full)) return;
        var missing = new Stack<string>();
        for (var d = full; d != null && !Directory.Exists(d); d = Path.GetDirectoryName(d))
            missing.Push(d);
        foreach (var dir in missing)
        {
            try { Directory.CreateDirectory(dir); }
            catch (IOException e) when (!Directory.Exists(dir))
            {
                throw new PbsException("CreateDirectoryFailed", PbsErrorKind.WriteError,
                    $"unable to create directory \"{dir}\" - {e.Message}", dir, e);
            }
            catch (UnauthorizedAccessException e)
            {
                throw new PbsException("CreateDirectoryFailed", PbsErrorKind.PermissionDenied,
                    $"unable to create directory \"{dir}\" - {e.Message}", dir, e);
            }
            Apply(dir);
        }
    }
}
