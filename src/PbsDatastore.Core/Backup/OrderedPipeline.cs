namespace PbsDatastore.Core.Backup;

/// <summary>
/// Runs a costly per-item step (hash, compress, encrypt, decode) on several cores while the calling thread keeps
/// producing items and consumes results strictly in source order (index files need the order).
/// </summary>
internal static class OrderedPipeline
{
    /// <summary>
    /// Enumerates <paramref name="source"/> on the calling thread, runs <paramref name="transform"/> for at most
    /// <paramref name="window"/> items at a time on the thread pool and hands each result to
    /// <paramref name="consume"/> on the calling thread, in source order. On any failure or cancellation every step
    /// already started is awaited before the exception propagates, so nothing is still writing when the caller
    /// cleans up.
    /// </summary>
    public static void Run<TIn, TOut>(IEnumerable<TIn> source, Func<TIn, TOut> transform, Action<TOut> consume,
        ITaskState state, int? window = null)
    {
        var limit = Math.Max(2, window ?? Environment.ProcessorCount * 2);
        var inFlight = new Queue<Task<TOut>>(limit);
        try
        {
            foreach (var item in source)
            {
                state.CheckAbort();
                if (inFlight.Count >= limit)
                    consume(inFlight.Dequeue().GetAwaiter().GetResult());
                var captured = item;
                inFlight.Enqueue(Task.Run(() => transform(captured)));
            }
            while (inFlight.Count > 0)
            {
                state.CheckAbort();
                consume(inFlight.Dequeue().GetAwaiter().GetResult());
            }
        }
        finally
        {
            // Drain without observing: the first exception is already propagating.
            foreach (var pending in inFlight)
            {
                try { pending.Wait(); }
                catch (AggregateException) { }
            }
        }
    }
}
