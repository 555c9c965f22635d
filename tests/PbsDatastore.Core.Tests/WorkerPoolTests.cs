using System.Collections.Concurrent;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests;

public class WorkerPoolTests
{
    [Fact]
    public void ForVisitsEveryIndexOnceOnSeveralThreads()
    {
        var seen = new int[10_000];
        var threads = new ConcurrentDictionary<int, byte>();
        WorkerPool.For(seen.Length, NullTaskState.Instance, i =>
        {
            Interlocked.Increment(ref seen[i]);
            threads.TryAdd(Environment.CurrentManagedThreadId, 0);
            if (i < 64) Thread.Sleep(1); // give the other worker time to start
        }, workers: 3);
        Assert.All(seen, n => Assert.Equal(1, n));
        Assert.True(threads.Count > 1, "only one thread ran the loop");
    }

    [Fact]
    public void ForRethrowsTheFirstFaultUnwrappedAndStopsTheOthers()
    {
        var visited = 0;
        var e = Assert.Throws<PbsException>(() => WorkerPool.For(100_000, NullTaskState.Instance, i =>
        {
            Interlocked.Increment(ref visited);
            if (i == 10) throw new PbsException("First", PbsErrorKind.ReadError, "first");
            if (i > 10) Thread.Sleep(1);
        }, workers: 2));
        Assert.Equal("First", e.ErrorId);
        Assert.True(visited < 1000, $"{visited} indexes were visited after the fault");
    }

    [Fact]
    public void ForStopsOnAbortAndReportsItThroughCheckAbort()
    {
        using var cts = new CancellationTokenSource();
        var state = new RecordingTaskState(cts.Token);
        var visited = 0;
        var e = Assert.Throws<PbsException>(() => WorkerPool.For(100_000, state, i =>
        {
            if (Interlocked.Increment(ref visited) == 50) cts.Cancel();
        }, workers: 2));
        Assert.Equal(PbsErrorKind.OperationStopped, e.Kind);
        Assert.True(visited < 1000, $"{visited} indexes were visited after the abort");
    }

    [Fact]
    public void QueueDoesEveryItemWithPerWorkerStateAndBoundsTheQueue()
    {
        var done = new ConcurrentBag<int>();
        var workers = new ConcurrentDictionary<int, byte>();
        using var gate = new ManualResetEventSlim();
        using (var pool = new WorkerPool<int>(2, 3, items =>
        {
            var local = new List<int>();
            foreach (var item in items)
            {
                gate.Wait();
                local.Add(item);
            }
            foreach (var item in local) done.Add(item);
            workers.TryAdd(Environment.CurrentManagedThreadId, 0);
        }, NullTaskState.Instance))
        {
            // Both workers hold one item each behind the gate; the queue then takes 3 and refuses the next.
            var posted = 0;
            SpinWait.SpinUntil(() => pool.TryPost(posted) && ++posted == 5, TimeSpan.FromSeconds(10));
            Assert.Equal(5, posted);
            Assert.False(pool.TryPost(99));
            gate.Set();
            for (var i = 5; i < 100; i++) pool.Post(i);
            pool.Complete();
        }
        Assert.Equal(Enumerable.Range(0, 100), done.Order());
        Assert.Equal(2, workers.Count);
    }

    [Fact]
    public void QueueFaultReachesThePosterAndComplete()
    {
        using var pool = new WorkerPool<int>(1, 1, items =>
        {
            foreach (var item in items)
                if (item == 3) throw new PbsException("Bad", PbsErrorKind.InvalidData, "bad item");
        }, NullTaskState.Instance);
        var e = Assert.Throws<PbsException>(() =>
        {
            for (var i = 0; i < 1000; i++) pool.Post(i);
        });
        Assert.Equal("Bad", e.ErrorId);
        Assert.Same(e, pool.Fault);
        Assert.False(pool.TryPost(5));
        Assert.Same(e, Assert.Throws<PbsException>(() => pool.Complete()));
    }

    [Fact]
    public void QueueStopsOnAbortAndDisposeWaitsForTheWorkers()
    {
        using var cts = new CancellationTokenSource();
        var state = new RecordingTaskState(cts.Token);
        var running = 0;
        var pool = new WorkerPool<int>(2, 4, items =>
        {
            Interlocked.Increment(ref running);
            try { foreach (var _ in items) Thread.Sleep(1); }
            finally { Interlocked.Decrement(ref running); }
        }, state);
        for (var i = 0; i < 8; i++) pool.TryPost(i);
        cts.Cancel();
        Assert.Throws<OperationCanceledException>(() => pool.Post(1));
        Assert.Equal(PbsErrorKind.OperationStopped, Assert.Throws<PbsException>(() => pool.Complete()).Kind);
        pool.Dispose();
        Assert.Equal(0, Volatile.Read(ref running));
    }
}
