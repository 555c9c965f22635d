using System.Runtime.CompilerServices;

namespace PbsDatastore.Core.Tests.Support;

/// <summary>
/// Points PBS's config and run roots at a private temp folder for the whole test run (unless the caller set
/// them), so no test ever reads /etc/proxmox-backup or creates locks under /run/proxmox-backup.
/// </summary>
internal static class TestEnvironment
{
    public static string Root { get; private set; } = "";

    [ModuleInitializer]
    internal static void Init()
    {
        Root = Directory.CreateTempSubdirectory("pbs-test-roots-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(Root, true); } catch { } };
        if (Environment.GetEnvironmentVariable(PbsPaths.ConfigRootVariable) is null or "")
            Environment.SetEnvironmentVariable(PbsPaths.ConfigRootVariable, Path.Combine(Root, "etc"));
        if (Environment.GetEnvironmentVariable(PbsPaths.RunRootVariable) is null or "")
            Environment.SetEnvironmentVariable(PbsPaths.RunRootVariable, Path.Combine(Root, "run"));
    }
}
