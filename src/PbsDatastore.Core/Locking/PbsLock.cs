namespace PbsDatastore.Core.Locking;

/// <summary>A set of held locks for one object (one per scheme in use), released in reverse order.</summary>
public sealed class PbsLock : IDisposable
{
    private readonly List<FlockHandle> _handles;

    internal PbsLock(string description, List<FlockHandle> handles)
    {
        Description = description;
        _handles = handles;
    }

    /// <summary>What is locked, e.g. `snapshot vm/100/2024-03-01T10:00:00Z`.</summary>
    public string Description { get; }

    public IReadOnlyList<FlockHandle> Handles => _handles;

    /// <summary>Unlinks every lock file of this set while still holding it (after the object was removed).</summary>
    public void UnlinkLockFiles()
    {
        foreach (var h in _handles) h.UnlinkWhileHeld();
    }

    public void Dispose()
    {
        for (var i = _handles.Count - 1; i >= 0; i--) _handles[i].Dispose();
    }

    public override string ToString() => Description;
}
