using System.Management.Automation;
using PbsDatastore.Core;
using PbsDatastore.Core.Hierarchy;

namespace PbsDatastore.Infrastructure;

/// <summary>
/// Lets every -Datastore parameter take a datastore object, any object of this module that carries one
/// (namespace, group, snapshot), the same deserialized (jobs, remoting), a name configured in datastore.cfg, or a
/// datastore path.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class DatastoreTransformationAttribute : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        _pending = null;
        try { return Identity.OpenDatastore(inputData, engineIntrinsics.SessionState.Path.GetUnresolvedProviderPathFromPSPath); }
        catch (PbsException e)
        {
            // Thrown from here, PowerShell would report every failure as ParameterArgumentTransformationError. The
            // failure waits instead for the parameter's setter, and the cmdlet reports it with its own ErrorId
            // (PbsCmdlet.BoundDatastore).
            _pending = e;
            return null!;
        }
    }

    [ThreadStatic] private static PbsException? _pending;

    /// <summary>The failure of the transformation that just ran on this thread, if it failed; cleared.</summary>
    internal static PbsException? TakeFailure()
    {
        var e = _pending;
        _pending = null;
        return e;
    }

    /// <summary>
    /// A configured name when datastore.cfg has it, otherwise a path (relative to the PowerShell location, which
    /// <paramref name="resolve"/> resolves).
    /// </summary>
    public static Datastore Resolve(string nameOrPath, Func<string, string> resolve)
    {
        string fullPath(string path) => Arguments.FullPath(path, resolve);
        if (LooksLikeName(nameOrPath))
        {
            var config = File.Exists(PbsPaths.DatastoreConfigFile) ? DatastoreConfig.Load() : null;
            if (config?.TryGet(nameOrPath) is { } entry)
                return Datastore.Open(entry.Path, entry.Name, config);
            if (!Directory.Exists(fullPath(nameOrPath)))
                throw new PbsException("DatastoreNotFound", PbsErrorKind.ObjectNotFound,
                    $"no datastore named '{nameOrPath}' in {PbsPaths.DatastoreConfigFile} and no such directory", nameOrPath);
        }
        return Datastore.Open(fullPath(nameOrPath));
    }

    private static bool LooksLikeName(string s) => PbsNames.IsSafeId(s) && !s.Contains('/');
}
