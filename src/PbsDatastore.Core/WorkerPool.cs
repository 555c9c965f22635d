using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace PbsDatastore.Core;

/// <summary>
/// The core's one way to spread work over threads. Workers stop at the first exception any of them throws, or when
/// the task is aborted; the caller waits for every worker, then gets that first exception unwrapped (or the abort
/// from <see cref="TaskStateExtensions.CheckAbort"/>), so no worker outlives the call that started it.
/// <see cref="For"/> hands out indexes; <see cref="WorkerPool{T}"/> feeds items through a bounded queue.
/// </summary>
internal static class WorkerPool
{
    /// <summary>
    /// Runs <paramref name="body"/> for every index of [0, <paramref name="count"/>) on <paramref name="workers"/>
    /// threads (the calling thread is one; default: one per core), each taking the next index when it is free.
    /// </summary>
    public static void For(int count, ITaskState state, Action<int> body, int? workers = null)
        => For<object?>(count, state, () => null, (i, _) => body(i), null, workers);

    /// <summary>
    /// As <see cref="For(int, ITaskState, Action{int}, int?)"/>, where each worker first makes its own
    /// <typeparamref name="TLocal"/> (a decoder, a buffer), passes it to each of its calls of <paramref name="body"/>
    /// and to <paramref name="finish"/> when it stops, also after a fault.
    /// </summary>
    public static void For<TLocal>(int count, ITaskState state, Func<TLocal> init, Action<int, TLocal> body,
        Action<TLocal>? finish = null, int? workers = null)
    {
        var next = -1;
        using var crew = new WorkerCrew(state);
        crew.Start(Math.Clamp(workers ?? Environment.ProcessorCount, 1, Math.Max(1, count)) - 1, Loop);
        crew.RunHere(Loop);
        crew.Join();
        crew.Rethrow();

        void Loop(CancellationToken stop)
        {
            var local = init();
            try
            {
                for (var i = Interlocked.Increment(ref next); i < count && !stop.IsCancellationRequested; i = Interlocked.Increment(ref next))
                    body(i, local);
            }
            finally
            {
                finish?.Invoke(local);
            }
        }
    }
}

/// <summary>
/// Worker threads taking items from a bounded queue (see <see cref="WorkerPool"/>). Each worker runs
/// <c>work</c> once over its share of the items, so it can keep per-thread state (a decoder, counters) across them.
/// After a fault or an abort the workers stop and items still queued are dropped.
/// </summary>
internal sealed class WorkerPool<T> : IDisposable
{
    private readonly BlockingCollection<T> _queue;
    private readonly WorkerCrew _crew;
    private bool _finished;

    public WorkerPool(int workers, int capacity, Action<IEnumerable<T>> work, ITaskState state)
    {
        _queue = new BlockingCollection<T>(Math.Max(1, capacity));
        _crew = new WorkerCrew(state);
        _crew.Start(Math.Max(1, workers), stop => work(_queue.GetConsumingEnumerable(stop)));
    }

    /// <summary>The first exception of a worker, once there is one.</summary>
    public Exception? Fault => _crew.Fault;

    /// <summary>Queues the item unless the queue is full or the pool has stopped (the caller may do the work itself).</summary>
    public bool TryPost(T item) => !_crew.Stopping && _queue.TryAdd(item);

    /// <summary>Queues the item, waiting for room; throws the pool's fault (or the abort) once it has stopped.</summary>
    public void Post(T item)
    {
        try
        {
            _queue.Add(item, _crew.StopToken);
        }
        catch (OperationCanceledException) when (Fault is { } fault)
        {
            ExceptionDispatchInfo.Throw(fault);
        }
    }

    /// <summary>No more items: waits until the workers have done what was queued (or stopped). Never throws.</summary>
    public void Finish()
    {
        if (_finished) return;
        _finished = true;
        _queue.CompleteAdding();
        _crew.Join();
    }

    /// <summary><see cref="Finish"/>, then the first fault of a worker, or the abort if the task was aborted.</summary>
    public void Complete()
    {
        Finish();
        _crew.Rethrow();
    }

    /// <summary>Stops the workers unless they were finished, waits for them, and frees the queue.</summary>
    public void Dispose()
    {
        if (!_finished) _crew.Stop();
        Finish();
        _queue.Dispose();
        _crew.Dispose();
    }
}

/// <summary>The threads of one run of a pool: the first exception is kept and stops the others.</summary>
internal sealed class WorkerCrew(ITaskState state) : IDisposable
{
    private readonly CancellationTokenSource _stop = CancellationTokenSource.CreateLinkedTokenSource(state.Cancellation);
    private readonly List<Thread> _threads = new();
    private Exception? _fault;

    public Exception? Fault => Volatile.Read(ref _fault);
    public CancellationToken StopToken => _stop.Token;
    public bool Stopping => _stop.IsCancellationRequested;

    /// <summary>Starts <paramref name="count"/> threads running <paramref name="loop"/>.</summary>
    public void Start(int count, Action<CancellationToken> loop)
    {
        for (var i = 0; i < count; i++)
        {
            var thread = new Thread(() => RunHere(loop)) { IsBackground = true, Name = "PbsDatastore worker" };
            _threads.Add(thread);
            thread.Start();
        }
    }

    /// <summary>Runs <paramref name="loop"/> on this thread as one more worker.</summary>
    public void RunHere(Action<CancellationToken> loop)
    {
        try
        {
            loop(_stop.Token);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Stopped by another worker's fault or by the abort: not a fault of its own.
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _fault, e, null);
            Stop();
        }
    }

    public void Stop()
    {
        try { _stop.Cancel(); }
        catch (ObjectDisposedException) { }
    }

    public void Join()
    {
        foreach (var thread in _threads) thread.Join();
        _threads.Clear();
    }

    /// <summary>The first fault, with its original stack; else the abort, when the task was aborted.</summary>
    public void Rethrow()
    {
        if (Fault is { } fault) ExceptionDispatchInfo.Throw(fault);
        state.CheckAbort();
    }

    public void Dispose()
    {
        Join();
        _stop.Dispose();
    }
}
