namespace PbsDatastore.Core.S3;

/// <summary>
/// Requests by method and bytes moved, as PBS counts them for its S3 notification thresholds (`s3-get`, `s3-put`,
/// `s3-post`, `s3-head`, `s3-delete`, `s3-upload`, `s3-download`); every attempt counts, retries included.
/// </summary>
public sealed record S3RequestCount(long Get, long Put, long Post, long Head, long Delete, long Uploaded, long Downloaded, long Retries)
{
    public long Requests => Get + Put + Post + Head + Delete;

    public static S3RequestCount operator -(S3RequestCount a, S3RequestCount b)
        => new(a.Get - b.Get, a.Put - b.Put, a.Post - b.Post, a.Head - b.Head, a.Delete - b.Delete,
            a.Uploaded - b.Uploaded, a.Downloaded - b.Downloaded, a.Retries - b.Retries);
}

/// <summary>Thread-safe live counters of one <see cref="S3Client"/>.</summary>
public sealed class S3RequestCounters
{
    private long _get, _put, _post, _head, _delete, _uploaded, _downloaded, _retries;

    internal void CountRequest(HttpMethod method, long uploaded)
    {
        switch (method.Method)
        {
            case "GET": Interlocked.Increment(ref _get); break;
            case "PUT": Interlocked.Increment(ref _put); break;
            case "POST": Interlocked.Increment(ref _post); break;
            case "HEAD": Interlocked.Increment(ref _head); break;
            default: Interlocked.Increment(ref _delete); break;
        }
        Interlocked.Add(ref _uploaded, uploaded);
    }

    internal void CountDownload(long bytes) => Interlocked.Add(ref _downloaded, bytes);

    internal void CountRetry() => Interlocked.Increment(ref _retries);

    public S3RequestCount Snapshot() => new(Interlocked.Read(ref _get), Interlocked.Read(ref _put),
        Interlocked.Read(ref _post), Interlocked.Read(ref _head), Interlocked.Read(ref _delete),
        Interlocked.Read(ref _uploaded), Interlocked.Read(ref _downloaded), Interlocked.Read(ref _retries));
}
