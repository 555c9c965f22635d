namespace PbsDatastore.Core;

/// <summary>
/// Roots of PBS's configuration and runtime directories. Overridable (environment or assignment) so tests and
/// unprivileged runs never touch the machine's real /etc/proxmox-backup or /run/proxmox-backup.
/// </summary>
public static class PbsPaths
{
    public const string ConfigRootVariable = "PBS_DATASTORE_CONFIG_ROOT";
    public const string RunRootVariable = "PBS_DATASTORE_RUN_ROOT";

    private static string? _configRoot;
    private static string? _runRoot;

    /// <summary>Default /etc/proxmox-backup; environment variable PBS_DATASTORE_CONFIG_ROOT overrides it.</summary>
    public static string ConfigRoot
    {
        get => _configRoot ?? Environment.GetEnvironmentVariable(ConfigRootVariable) ?? "/etc/proxmox-backup";
        set => _configRoot = value;
    }

    /// <summary>Default /run/proxmox-backup; environment variable PBS_DATASTORE_RUN_ROOT overrides it.</summary>
    public static string RunRoot
    {
        get => _runRoot ?? Environment.GetEnvironmentVariable(RunRootVariable) ?? "/run/proxmox-backup";
        set => _runRoot = value;
    }

    public static string DatastoreConfigFile => Path.Combine(ConfigRoot, "datastore.cfg");

    /// <summary>PBS 3.3.5+ lock root (tmpfs).</summary>
    public static string LockRoot => Path.Combine(RunRoot, "locks");
}
