using PbsDatastore.Core.Hierarchy;

namespace PbsDatastore.Core.Maintenance;

/// <summary>Wording PBS's maintenance task logs share.</summary>
public static class LogText
{
    /// <summary>PBS's <c>&lt;store-and-ns&gt;</c>: <c>datastore 'x', root namespace</c> or <c>datastore 'x', namespace 'a/b'</c>.</summary>
    public static string StoreAndNamespace(Datastore store, BackupNamespace ns) =>
        ns.IsRoot ? $"datastore '{store.Name}', root namespace" : $"datastore '{store.Name}', namespace '{ns.Name}'";
}
