using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.IO.Hashing;
using System.Security.Cryptography;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Memory;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Native;
using PbsDatastore.Core.Store;
using ZstdSharp;

namespace PbsDatastore.Core.Maintenance;

/// <summary>A chunk that failed verification, with the archive that referenced it.</summary>
public sealed record ChunkVerifyError(string Archive, string Digest, string Message);

/// <summary>What verifying the chunks of one index found (spec §8.4).</summary>
public sealed record IndexChunkResult(int ChunksLoaded, long ReadBytes, long DecodedBytes, int Errors,
    IReadOnlyList<ChunkVerifyError> ChunkErrors, TimeSpan Elapsed)
{
    /// <summary>Distinct chunks of the index, loaded now or found verified (or corrupt) earlier in the run.</summary>
    public int ChunksChecked { get; init; }
}

/// <summary>
/// The chunk half of PBS's VerifyWorker: the verified and corrupt digest sets shared by every snapshot of one
/// run, and the per-index procedure — order the chunks (by inode or as indexed), hand them out in that order to
/// the verify threads, each of which loads a chunk (no more loads at once than read threads) and checks it, rename
/// corrupt chunks to <c>.N.bad</c>.
/// Every distinct chunk of an index is loaded once, so results do not depend on the thread counts.
/// </summary>
public sealed class ChunkVerifier
{
    private readonly IDatastoreBackend _store;
    private readonly CryptConfig? _crypt;
    private readonly bool _dryRun;
    private readonly DigestSeenSet _verified;
    private readonly ConcurrentDictionary<ChunkDigest, byte> _corrupt = new();
    private long _chunksLoaded, _chunksDecrypted, _readBytes, _decodedBytes;

    /// <param name="store">The chunk store the indexes point into.</param>
    /// <param name="crypt">With a key, encrypted chunks are also decrypted and their keyed digest checked.</param>
    /// <param name="tuning">Chunk order, reader and verify thread counts (see <see cref="VerifyTuning.For"/>).</param>
    /// <param name="dryRun">Check only: never rename a corrupt chunk.</param>
    /// <param name="memoryLimit">
    /// Bytes the set of verified digests may hold (a run's share: <see cref="SeenSetBudget"/>); beyond it the
    /// verified chunks met longest ago are forgotten and checked again when met again (see
    /// <see cref="DigestSeenSet"/>): more reading, the same outcome.
    /// </param>
    public ChunkVerifier(IDatastoreBackend store, CryptConfig? crypt, VerifyTuning tuning, bool dryRun,
        long memoryLimit = DigestPartitions.DefaultMemoryLimit)
    {
        _verified = new DigestSeenSet(memoryLimit);
        _store = store;
        _crypt = crypt;
        _dryRun = dryRun;
        Tuning = tuning;
    }

    public VerifyTuning Tuning { get; }

    /// <summary>
    /// The share of a run's memory limit that the verified set may take, so that the run as a whole stays within
    /// it. A quarter is left for the rest: the runtime's own working memory, the buffer of the index being
    /// verified (as large as the largest index: 2 M chunks, an 8 TiB image, fit in a quarter of the 256 MiB
    /// default), the snapshot lists. A full verify also holds, per verify thread, a chunk as read and as decoded
    /// (pooled buffers of 8 MiB each for PBS's 4 MiB chunks). A limit too small for those still leaves the set an
    /// eighth.
    /// </summary>
    public static long SeenSetBudget(long memoryLimit, VerifyTuning tuning, bool fast)
    {
        const long ChunkBuffers = 2 * (8 << 20);
        var rest = memoryLimit / 4 + (fast ? 0 : tuning.VerifyThreads * ChunkBuffers);
        return Math.Max(memoryLimit / 8, memoryLimit - rest);
    }

    /// <summary>Progress activity of the chunks of the archive being verified (below the snapshot's bar).</summary>
    public const int ChunkProgressId = VerifyJob.ProgressId + 2;

    /// <summary>Chunks handed out between two progress records: a large disk image must not sit on one step.</summary>
    private const int ProgressEvery = 16;

    /// <summary>Verified chunks still remembered: all of them unless the memory limit made the set forget some.</summary>
    public IReadOnlyCollection<ChunkDigest> VerifiedChunks => _verified.ToList();
    public IReadOnlyCollection<ChunkDigest> CorruptChunks => (IReadOnlyCollection<ChunkDigest>)_corrupt.Keys;

    /// <summary>Chunks loaded successfully over the whole run.</summary>
    public long ChunksLoaded => Interlocked.Read(ref _chunksLoaded);
    /// <summary>Encrypted chunks decrypted with the key over the whole run.</summary>
    public long ChunksDecrypted => Interlocked.Read(ref _chunksDecrypted);
    public long ReadBytes => Interlocked.Read(ref _readBytes);
    public long DecodedBytes => Interlocked.Read(ref _decodedBytes);

    /// <summary>
    /// PBS's fast index verification (§8.7): every distinct digest must exist; digests found are remembered for
    /// the rest of the run. Returns the first failure, or null.
    /// </summary>
    public ChunkVerifyError? VerifyIndexFast(IndexFile index, string archive)
    {
        for (var i = 0; i < index.Count; i++)
        {
            var digest = index.DigestAt(i);
            if (_verified.Contains(digest))
                continue;
            var errno = _store.StatChunk(digest, default, out _);
            if (errno != 0)
                return new ChunkVerifyError(archive, digest.ToString(),
                    $"fast_index_verification error, stat_chunk {digest} failed - {OsError(errno)}");
            _verified.Add(digest);
        }
        return null;
    }

    /// <summary>Loads and checks every chunk of <paramref name="index"/> not seen before in this run (§8.4).</summary>
    public IndexChunkResult VerifyIndexChunks(IndexFile index, CryptMode indexCryptMode, string archive, ITaskState task)
    {
        var started = Stopwatch.StartNew();
        var run = new IndexRun(archive, indexCryptMode == CryptMode.Encrypt ? CryptMode.Encrypt : CryptMode.None, task);

        var (order, repeats, distinct) = ChunksInOrder(index, run);
        try
        {
            // Each worker loads the next chunk of the order and checks it itself: handing chunks from reader
            // threads to verify threads costs a wake-up per chunk, which on a loaded machine is a lost time slice.
            // At most ReadThreads loads run at once; a worker waiting for its turn to load yields the core instead
            // of sleeping until woken, for the same reason.
            var readSlots = Tuning.ReadThreads;
            WorkerPool.For(order.Count, task, () => new Decompressor(), (i, decompressor) =>
            {
                task.CheckAbort();
                if (i % ProgressEvery == 0)
                    task.Progress(ChunkProgressId, $"Verify {archive}", $"{i} of {order.Count} chunks", i * 100 / order.Count);
                var position = order[i];
                var digest = index.DigestAt(position);
                if (IsSettled(digest, run))
                    return;
                var spin = new SpinWait();
                while (Interlocked.Decrement(ref readSlots) < 0)
                {
                    Interlocked.Increment(ref readSlots);
                    task.CheckAbort();
                    spin.SpinOnce(sleep1Threshold: -1);
                }
                Loaded? loaded;
                try { loaded = Load(digest, index.ChunkLength(position), run); }
                finally { Interlocked.Increment(ref readSlots); }
                if (loaded is null)
                    return;
                try { Check(loaded, decompressor, run); }
                finally { ArrayPool<byte>.Shared.Return(loaded.Buffer); }
            }, decompressor => decompressor.Dispose(), Tuning.VerifyThreads);
            // Every repeat of a corrupt chunk counts an error, as in PBS (it meets the chunk again and either finds
            // it marked corrupt or fails to load or decode it once more); a repeat of a good one counts nothing.
            foreach (var position in repeats)
                IsSettled(index.DigestAt(position), run);
        }
        finally
        {
            task.Complete(ChunkProgressId, $"Verify {archive}");
        }

        var elapsed = started.Elapsed;
        Interlocked.Add(ref _readBytes, run.ReadBytes);
        Interlocked.Add(ref _decodedBytes, run.DecodedBytes);
        var seconds = elapsed.TotalSeconds;
        const double MiB = 1024 * 1024;
        task.Log(string.Create(CultureInfo.InvariantCulture,
            $"  verified {run.ReadBytes / MiB:F2}/{run.DecodedBytes / MiB:F2} MiB in {seconds:F2} seconds, speed {run.ReadBytes / MiB / seconds:F2}/{run.DecodedBytes / MiB / seconds:F2} MiB/s ({run.ErrorCount} errors)"));
        return new IndexChunkResult(run.LoadedCount, run.ReadBytes, run.DecodedBytes, run.ErrorCount, run.Errors.ToArray(), elapsed)
        {
            ChunksChecked = distinct,
        };
    }

    /// <summary>
    /// PBS's get_chunks_in_order: the unsettled positions, in index order or sorted by the chunk file's inode
    /// (a chunk that cannot be stat'ed goes last). Positions repeating a digest are set aside: loading the file
    /// again while its first copy is decoding would only cost time; they are settled once decoding is done. Distinct:
    /// the index's distinct digests, settled or not.
    /// </summary>
    private (List<int> Order, List<int> Repeats, int Distinct) ChunksInOrder(IndexFile index, IndexRun run)
    {
        var byInode = Tuning.ChunkOrder == ChunkOrder.Inode;
        var order = new List<(int Position, ulong Inode)>(index.Count);
        var repeats = new List<int>();
        var seen = new HashSet<ChunkDigest>();
        for (var i = 0; i < index.Count; i++)
        {
            if (i % 1024 == 0)
                run.Task.CheckAbort();
            var digest = index.DigestAt(i);
            var first = seen.Add(digest);
            if (IsSettled(digest, run))
                continue;
            if (!first)
            {
                repeats.Add(i);
                continue;
            }
            var inode = byInode && _store.StatChunk(digest, default, out var st) == 0 ? st.Inode : ulong.MaxValue;
            order.Add((i, inode));
        }
        if (byInode)
            order.Sort((a, b) => a.Inode.CompareTo(b.Inode));
        return (order.ConvertAll(o => o.Position), repeats, seen.Count);
    }

    /// <summary>True when the digest needs no load: verified already, or known corrupt (which counts an error).</summary>
    private bool IsSettled(ChunkDigest digest, IndexRun run)
    {
        if (_verified.Contains(digest))
            return true;
        if (!_corrupt.ContainsKey(digest))
            return false;
        run.Error(digest, $"chunk {digest} was marked as corrupt");
        return true;
    }

    private Loaded? Load(ChunkDigest digest, long expectedSize, IndexRun run)
    {
        var path = _store.ChunkPath(digest);
        var errno = _store.ReadChunk(digest, out var buffer, out var length);
        if (errno == Libc.EFBIG)
            return LoadFailed(digest, $"blob too large ({length} bytes).", run);
        if (errno != 0)
            return LoadFailed(digest, OsError(errno), run);
        return new Loaded(digest, path, buffer!, (int)length, expectedSize);
    }

    private Loaded? LoadFailed(ChunkDigest digest, string detail, IndexRun run)
    {
        MarkCorrupt(digest, $"can't verify chunk, load failed - store '{_store.Name}', unable to load chunk '{digest}' - {detail}", run);
        return null;
    }

    private void MarkCorrupt(ChunkDigest digest, string message, IndexRun run)
    {
        _corrupt.TryAdd(digest, 0);
        run.Error(digest, message);
        if (!_dryRun)
            _store.RenameCorruptChunk(digest, run.Task);
    }

    /// <summary>One loaded chunk: the rest of PBS's load (magic, CRC), crypt mode, then decode and digest/length.</summary>
    private void Check(Loaded chunk, Decompressor decompressor, IndexRun run)
    {
        var raw = chunk.Buffer.AsSpan(0, chunk.Length);
        var kind = raw.Length >= DataBlob.PlainHeaderSize ? DataBlob.KindOf(raw) : null;
        if (kind is not { } k || raw.Length < k.HeaderSize()
            || BinaryPrimitives.ReadUInt32LittleEndian(raw[8..]) != Crc32.HashToUInt32(raw[k.HeaderSize()..]))
        {
            // The exact reason, as PBS's loader words it.
            var reason = BlobFailure(raw, b => b.VerifyCrc()) ?? "Data blob has wrong CRC checksum.";
            MarkCorrupt(chunk.Digest,
                $"can't verify chunk, load failed - store '{_store.Name}', unable to load chunk '{chunk.Digest}' - {reason}", run);
            return;
        }
        // Loaded, in PBS's sense: counted as read (raw size) and decoded (the size the index expects).
        Interlocked.Increment(ref run.LoadedCount);
        Interlocked.Increment(ref _chunksLoaded);
        Interlocked.Add(ref run.ReadBytes, chunk.Length);
        Interlocked.Add(ref run.DecodedBytes, chunk.ExpectedSize);

        var mode = k.CryptMode();
        if (mode != run.ExpectedMode)
            run.Error(chunk.Digest, $"chunk CryptMode {mode} does not match index CryptMode {run.ExpectedMode}");

        string? failure;
        if (k.IsEncrypted())
        {
            failure = _crypt is null ? null : BlobFailure(raw, b => CheckDecoded(b.Decode(_crypt, chunk.Digest.ToArray()), chunk.ExpectedSize));
            if (_crypt is not null)
                Interlocked.Increment(ref _chunksDecrypted);
        }
        else if (PlainChunkMatches(raw, k, chunk, decompressor))
            failure = null;
        else
            failure = BlobFailure(raw, b => b.VerifyUnencrypted(chunk.ExpectedSize, chunk.Digest.ToArray()));

        if (failure is null)
            _verified.Add(chunk.Digest);
        else
            MarkCorrupt(chunk.Digest, failure, run);
    }

    /// <summary>The fast path for plain chunks: decode into a pooled buffer, hash, compare. False means "look closer".</summary>
    private static bool PlainChunkMatches(ReadOnlySpan<byte> raw, BlobKind kind, Loaded chunk, Decompressor decompressor)
    {
        var payload = raw[DataBlob.PlainHeaderSize..];
        Span<byte> hash = stackalloc byte[32];
        if (kind == BlobKind.Uncompressed)
            return payload.Length == chunk.ExpectedSize && SHA256.HashData(payload, hash) == 32 && chunk.Digest.Equals(new ChunkDigest(hash));
        if (chunk.ExpectedSize > DataBlob.MaxDataSize)
            return false;
        var output = ArrayPool<byte>.Shared.Rent((int)chunk.ExpectedSize + 1);
        try
        {
            // One byte of room past the expected size tells "too long" apart from "exactly right".
            if (!decompressor.TryUnwrap(payload, output.AsSpan(0, (int)chunk.ExpectedSize + 1), out var written)
                || written != chunk.ExpectedSize)
                return false;
            SHA256.HashData(output.AsSpan(0, written), hash);
            return chunk.Digest.Equals(new ChunkDigest(hash));
        }
        catch (ZstdException)
        {
            return false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(output);
        }
    }

    private static void CheckDecoded(byte[] data, long expectedSize)
    {
        if (data.Length != expectedSize)
            throw new PbsException("BlobSizeMismatch", PbsErrorKind.InvalidData, $"detected chunk with wrong length ({expectedSize} != {data.Length})");
    }

    /// <summary>Runs a DataBlob check on an exact copy; the PBS error text on failure, null when it passes.</summary>
    private static string? BlobFailure(ReadOnlySpan<byte> raw, Action<DataBlob> check)
    {
        try
        {
            check(DataBlob.FromRaw(raw.ToArray()));
            return null;
        }
        catch (PbsException e)
        {
            return e.Message;
        }
    }

    /// <summary>An errno as Rust's io::Error prints it: <c>No such file or directory (os error 2)</c>.</summary>
    internal static string OsError(int errno) => $"{Libc.StrError(errno)} (os error {errno})";

    private sealed record Loaded(ChunkDigest Digest, string Path, byte[] Buffer, int Length, long ExpectedSize);

    /// <summary>Counters and errors of one index.</summary>
    private sealed class IndexRun(string archive, CryptMode expectedMode, ITaskState task)
    {
        public readonly ITaskState Task = task;
        public readonly CryptMode ExpectedMode = expectedMode;
        public readonly ConcurrentQueue<ChunkVerifyError> Errors = new();
        public long ReadBytes, DecodedBytes;
        public int LoadedCount, ErrorCount;
        public void Error(ChunkDigest digest, string message)
        {
            Interlocked.Increment(ref ErrorCount);
            Errors.Enqueue(new ChunkVerifyError(archive, digest.ToString(), message));
            Task.Log(message);
        }
    }
}
