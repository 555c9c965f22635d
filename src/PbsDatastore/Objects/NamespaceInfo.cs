using PbsDatastore.Core.Hierarchy;

namespace PbsDatastore.Objects;

/// <summary>A namespace of a datastore ("" is the root namespace; "a/b" is stored under ns/a/ns/b).</summary>
public sealed class NamespaceInfo(Datastore datastore, BackupNamespace ns) : IDatastoreItem
{
    public Datastore Datastore { get; } = datastore;
    /// <summary>The core object, for scripts that want its methods.</summary>
    public BackupNamespace BackupNamespace { get; } = ns;
    public string Namespace => BackupNamespace.Name;
    public int Depth => BackupNamespace.Depth;
    public string Path => Datastore.NamespacePath(BackupNamespace);
    /// <summary>The last component; empty for the root namespace.</summary>
    public string Name => BackupNamespace.IsRoot ? "" : BackupNamespace.Components[^1];

    public override string ToString() => Namespace;
}
