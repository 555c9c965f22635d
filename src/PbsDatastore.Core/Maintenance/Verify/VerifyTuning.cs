using PbsDatastore.Core.Hierarchy;

namespace PbsDatastore.Core.Maintenance;

/// <summary>
/// How a verification loads and decodes chunks: the datastore's <c>chunk-order</c>, <see cref="VerifyThreads"/>
/// threads that load chunks in that order and check them, at most <see cref="ReadThreads"/> of them loading at once
/// (PBS 4.0.22's <c>read-threads</c> / <c>verify-threads</c>, addendum §3.1).
/// </summary>
public sealed record VerifyTuning
{
    /// <summary>PBS's built-in defaults when neither the caller nor the datastore's tuning sets a count.</summary>
    public const int DefaultReadThreads = 1, DefaultVerifyThreads = 4;

    /// <summary>PBS accepts 1 to this many threads of either kind.</summary>
    public const int MaxThreads = DatastoreTuning.MaxVerificationThreads;

    public VerifyTuning(ChunkOrder chunkOrder = ChunkOrder.Inode, int readThreads = DefaultReadThreads,
        int verifyThreads = DefaultVerifyThreads)
    {
        ChunkOrder = chunkOrder;
        ReadThreads = CheckThreads(readThreads, "read-threads");
        VerifyThreads = CheckThreads(verifyThreads, "verify-threads");
    }

    public ChunkOrder ChunkOrder { get; }
    public int ReadThreads { get; }
    public int VerifyThreads { get; }

    /// <summary>
    /// The effective tuning of a verification of <paramref name="datastore"/>: the datastore's <c>chunk-order</c>;
    /// each thread count as given, else the datastore's <c>default-verification-readers</c> /
    /// <c>default-verification-workers</c>, else PBS's 1 reader and 4 workers. A tuning value PBS would reject is an
    /// InvalidDatastoreConfig error naming the store.
    /// </summary>
    public static VerifyTuning For(Datastore datastore, int? readThreads = null, int? verifyThreads = null)
    {
        var tuning = datastore.Tuning;
        return new VerifyTuning(tuning.ChunkOrder, readThreads ?? tuning.DefaultVerificationReaders ?? DefaultReadThreads,
            verifyThreads ?? tuning.DefaultVerificationWorkers ?? DefaultVerifyThreads);
    }

    private static int CheckThreads(int count, string name) => count is >= 1 and <= MaxThreads
        ? count
        : throw new PbsException("InvalidThreadCount", PbsErrorKind.InvalidArgument,
            $"{name} must be from 1 to {MaxThreads}, not {count}", count);
}
