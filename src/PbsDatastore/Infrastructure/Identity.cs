using System.Collections;
using System.Management.Automation;
using PbsDatastore.Core;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Objects;

namespace PbsDatastore.Infrastructure;

/// <summary>
/// Opens again what PowerShell's serialization (jobs, remoting, Export-Clixml) made of this module's objects: a
/// property bag without the core object. Their identity properties (Datastore, Namespace, BackupType, BackupId and
/// BackupTime or TimeString) name the same datastore, namespace, group or snapshot on the host where it lives.
/// </summary>
internal static class Identity
{
    private const string DeserializedDatastore = "Deserialized.PbsDatastore.Core.Hierarchy.Datastore";
    private const string DeserializedNamespace = "Deserialized.PbsDatastore.Core.Hierarchy.BackupNamespace";

    /// <summary>True for a deserialized object (its base is a plain property bag, not the type it was).</summary>
    public static bool IsPropertyBag(object? value) => value is PSObject { BaseObject: PSCustomObject };

    /// <summary>
    /// The Datastore, NamespaceInfo, BackupGroup or BackupSnapshot a deserialized object of this module stands
    /// for, by the identity properties it has; null for a bag that carries no datastore.
    /// </summary>
    public static object? Open(PSObject bag, Func<string, string> resolve)
    {
        if (bag.TypeNames.Contains(DeserializedDatastore))
            return Datastore.Open(Arguments.FullPath(Text(bag, "Path") ?? "", resolve));
        if (bag.Properties["Datastore"]?.Value is not { } storeValue) return null;
        var store = OpenDatastore(storeValue, resolve);
        var ns = BackupNamespace.Parse(Text(bag, "Namespace"));
        var type = Text(bag, "BackupType");
        var id = Text(bag, "BackupId");
        if (type is null || id is null) return new NamespaceInfo(store, ns);
        var group = store.Group(ns, BackupTypes.Parse(type), id);
        var time = Text(bag, "TimeString") ?? bag.Properties["BackupTime"]?.Value switch
        {
            null => null,
            var t => BackupTimeTransformationAttribute.ToDirectoryName(t),
        };
        return time is null ? group : group.Snapshot(time);
    }

    /// <summary>A datastore from a value: a datastore or object of this module, live or deserialized, a name or a path.</summary>
    public static Datastore OpenDatastore(object? input, Func<string, string> resolve)
    {
        var value = input is PSObject pso && !IsPropertyBag(pso) ? pso.BaseObject : input;
        return value switch
        {
            Datastore ds => ds,
            IDatastoreItem item => item.Datastore,
            string s => DatastoreTransformationAttribute.Resolve(s, resolve),
            PSObject bag => Open(bag, resolve) switch
            {
                Datastore ds => ds,
                NamespaceInfo ns => ns.Datastore,
                BackupGroup g => g.Datastore,
                BackupSnapshot s => s.Datastore,
                _ => throw NotADatastore(bag),
            },
            _ => throw NotADatastore(value),
        };
    }

    // Thrown as the binder's own error: the value, not the datastore, is wrong.
    private static ArgumentTransformationMetadataException NotADatastore(object? value) =>
        new($"cannot use a {Describe(value)} as a datastore: give a datastore object, a configured name or a path");

    private static string Describe(object? value) => value switch
    {
        null => "null",
        PSObject pso when pso.TypeNames.Count > 0 => pso.TypeNames[0],
        _ => value.GetType().Name,
    };

    /// <summary>A namespace from a name, a core namespace (live or deserialized) or an object with a Namespace property.</summary>
    public static BackupNamespace OpenNamespace(object? input) => input switch
    {
        PSObject pso when pso.TypeNames.Contains(DeserializedNamespace) => BackupNamespace.Parse(Text(pso, "Name")),
        PSObject pso when IsPropertyBag(pso) && pso.Properties["Namespace"] is { } p => BackupNamespace.Parse(p.Value?.ToString()),
        PSObject pso => OpenNamespace(pso.BaseObject),
        BackupNamespace ns => ns,
        NamespaceInfo info => info.BackupNamespace,
        string s => BackupNamespace.Parse(s),
        _ => throw new ArgumentTransformationMetadataException(
            $"cannot use a {Describe(input)} as a namespace: give a name such as 'a/b' or a Get-PbsNamespace object"),
    };

    private static string? Text(PSObject bag, string name) => bag.Properties[name]?.Value switch
    {
        null => null,
        PSObject p => p.BaseObject.ToString(),
        var v => v.ToString(),
    };

    /// <summary>Applies <paramref name="convert"/> to a value or to each element of a list (a parameter given an array).</summary>
    public static object Map(object input, Func<object, object> convert)
    {
        if (input is IList list && input is not string)
        {
            var result = new object[list.Count];
            for (var i = 0; i < result.Length; i++) result[i] = list[i] is { } item ? convert(item) : null!;
            return result;
        }
        return convert(input);
    }
}

/// <summary>
/// On -BackupSnapshot and -BackupGroup parameters: a deserialized snapshot or group object of this module, or any
/// object with its identity properties, opens again as the core object (see <see cref="Identity"/>); a live Get-
/// object given as an argument (<c>-BackupGroup (Get-PbsBackupGroup store1 vm)</c>) gives its core object, as it
/// would from the pipeline by property name; anything else passes through to the binder.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class IdentityTransformationAttribute(Type target) : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData) => Identity.Map(inputData, item =>
    {
        if (!Identity.IsPropertyBag(item)) return Unwrap(item);
        object? opened;
        try { opened = Identity.Open((PSObject)item, engineIntrinsics.SessionState.Path.GetUnresolvedProviderPathFromPSPath); }
        catch (PbsException e) { throw new ArgumentTransformationMetadataException(e.Message, e); }
        return opened switch
        {
            BackupSnapshot s when target == typeof(SnapshotInfo) => Readers.Snapshot(s, s.Group.ReadOwner()?.ToString(), _ => { }),
            _ when opened != null && target.IsInstanceOfType(opened) => opened,
            // Another kind (a group given where a snapshot is wanted): left for the binder to try the cmdlet's
            // other parameters (Test-PbsSnapshot takes both) or to report that it cannot convert it.
            _ => item,
        };
    });

    private object Unwrap(object item) => (item is PSObject p ? p.BaseObject : item) switch
    {
        SnapshotInfo s when target == typeof(BackupSnapshot) => s.BackupSnapshot,
        BackupGroupInfo g when target == typeof(BackupGroup) => g.BackupGroup,
        _ => item,
    };
}

/// <summary>On -BackupNamespace parameters: a name, a core namespace or a (deserialized) Get-PbsNamespace object.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class NamespaceTransformationAttribute : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        try { return Identity.OpenNamespace(inputData); }
        catch (PbsException e) { throw new ArgumentTransformationMetadataException(e.Message, e); }
    }
}
