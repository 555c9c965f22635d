using System.Runtime.ExceptionServices;

namespace PbsDatastore.Core.Backup;

/// <summary>
/// Runs a costly per-item step (hash, compress, encrypt, decode) on every core while the results are consumed
/// strictly in source order (index files need the order).
/// </summary>
internal static class OrderedPipeline
{
    /// <summary>
    /// Each worker of a <see cref="WorkerCrew"/> (the calling thread is one) takes the next item of
    /// <paramref name="source"/>, runs <paramref name="transform"/> on it and leaves the result; whichever worker
    /// completes the oldest outstanding item hands it and every result after it that is ready to
    /// <paramref name="consume"/>, one thread at a time. No thread waits for another to be woken, which on a loaded
    /// machine costs a time slice per item. At most <paramref name="window"/> items are taken but not yet consumed.
    /// A failing step is reported in source order too: its exception is raised when its turn to be consumed comes,
    /// so the error is always that of the first bad item (the first missing chunk, as PBS reports), whichever worker
    /// met a later one first. On any failure or abort every step already started ends before the exception
    /// propagates, so nothing is still writing when the caller cleans up.
    /// </summary>
    public static void Run<TIn, TOut>(IEnumerable<TIn> source, Func<TIn, TOut> transform, Action<TOut> consume,
        ITaskState state, int? window = null)
    {
        var workers = Environment.ProcessorCount;
        var limit = Math.Max(2, window ?? workers * 2);
        using var items = source.GetEnumerator();
        var ready = new Dictionary<long, (TOut Value, ExceptionDispatchInfo? Error)>();
        long taken = 0, consumed = 0;
        var sourceGate = new object();
        var resultGate = new object();
        using var crew = new WorkerCrew(state);
        using var wake = crew.StopToken.Register(() => { lock (resultGate) Monitor.PulseAll(resultGate); });
        crew.Start(workers - 1, Work);
        crew.RunHere(Work);
        crew.Join();
        crew.Rethrow();

        void Work(CancellationToken stop)
        {
            while (true)
            {
                lock (resultGate)
                {
                    while (Volatile.Read(ref taken) - consumed >= limit && !stop.IsCancellationRequested)
                        Monitor.Wait(resultGate);
                }
                TIn item;
                long sequence;
                lock (sourceGate)
                {
                    stop.ThrowIfCancellationRequested();
                    state.CheckAbort();
                    if (!items.MoveNext()) return;
                    item = items.Current;
                    sequence = taken;
                    Volatile.Write(ref taken, taken + 1);
                }
                (TOut Value, ExceptionDispatchInfo? Error) result;
                try { result = (transform(item), null); }
                catch (Exception e) { result = (default!, ExceptionDispatchInfo.Capture(e)); }
                lock (resultGate)
                {
                    ready.Add(sequence, result);
                    if (sequence != consumed) continue;
                    while (!stop.IsCancellationRequested && ready.Remove(consumed, out var next))
                    {
                        next.Error?.Throw();
                        consume(next.Value);
                        consumed++;
                    }
                    Monitor.PulseAll(resultGate);
                }
            }
        }
    }
}
