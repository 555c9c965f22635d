using PbsDatastore.Core.Hierarchy;

namespace PbsDatastore.Objects;

/// <summary>An output object that belongs to a datastore; -Datastore parameters accept it in its place.</summary>
public interface IDatastoreItem
{
    Datastore Datastore { get; }
}
