namespace PbsDatastore.Core.Locking;

/// <summary>
/// `mkdir -p` for the lock tree. PBS creates these directories as user backup; run as root we hand every
/// directory we create to backup:backup, otherwise PBS could no longer create its lock files in them.
/// </summary>
internal static class LockDirectories
{
    public static void Create(string path)
    {
        if (Directory.Exists(path)) return;
        var missing = new Stack<string>();
        for (var d = path; d != null && !Directory.Exists(d); d = Path.GetDirectoryName(d))
            missing.Push(d);
        var owner = BackupOwner.ForNewFiles();
        foreach (var dir in missing)
        {
            try { Directory.CreateDirectory(dir); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new PbsException("LockFailed", e is UnauthorizedAccessException ? PbsErrorKind.PermissionDenied : PbsErrorKind.WriteError,
                    $"unable to create lock directory \"{dir}\" - {e.Message}", dir, e);
            }
            if (owner is var (uid, gid) && Native.Libc.Lchown(dir, uid, gid) != 0)
                throw new PbsException("LockFailed", PbsErrorKind.PermissionDenied,
                    $"unable to chown lock directory \"{dir}\" - {Native.Libc.StrError(Native.Libc.LastErrno)}", dir);
        }
    }
}
