using PbsDatastore.Core.Store;

namespace PbsDatastore.Core.Hierarchy;

/// <summary>A datastore's backend held open for one job (<see cref="Datastore.LeaseBackend"/>); dispose when done.</summary>
public sealed class BackendLease : IDisposable
{
    private Datastore? _store;

    internal BackendLease(Datastore store, IDatastoreBackend backend)
    {
        _store = store;
        Backend = backend;
    }

    public IDatastoreBackend Backend { get; }

    public void Dispose() => Interlocked.Exchange(ref _store, null)?.Release();
}
