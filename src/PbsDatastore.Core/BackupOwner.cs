using PbsDatastore.Core.Native;

namespace PbsDatastore.Core;

/// <summary>
/// The owner PBS's daemon gives everything in a datastore: user `backup` and its primary group, looked up by
/// name. A process running as root must hand what it creates to this owner (GC's atime update needs the file's
/// owner); an unprivileged process cannot chown and leaves files as its own.
/// </summary>
public static class BackupOwner
{
    public const string UserName = "backup";

    private static readonly Lazy<(uint Uid, uint Gid)?> Lookup = new(() =>
    {
        try
        {
            var passwd = Mono.Unix.Native.Syscall.getpwnam(UserName);
            return passwd == null ? null : (passwd.pw_uid, passwd.pw_gid);
        }
        catch (Exception e) when (e is TypeInitializationException or DllNotFoundException or EntryPointNotFoundException)
        {
            // Mono.Posix's native helper (libMonoPosixHelper.so) must sit beside the assembly (a -r linux-x64 publish).
            throw new PbsException("BackupUserLookupFailed", PbsErrorKind.InvalidOperation,
                $"unable to lookup user '{UserName}': {e.InnerException?.Message ?? e.Message}", UserName, e);
        }
    });

    /// <summary>uid/gid of user `backup`, or null when the system has no such user.</summary>
    public static (uint Uid, uint Gid)? Ids => Lookup.Value;

    /// <summary>The owner to chown new files to: backup's ids when running as root, otherwise null (no chown).</summary>
    public static (uint Uid, uint Gid)? ForNewFiles()
    {
        if (Libc.GetEuid() != 0) return null;
        return Ids ?? throw new PbsException("BackupUserMissing", PbsErrorKind.ObjectNotFound,
            $"unable to lookup user '{UserName}': a datastore must belong to {UserName}:{UserName}", UserName);
    }
}
