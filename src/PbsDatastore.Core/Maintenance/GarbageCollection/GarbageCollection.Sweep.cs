using System.Text;
using PbsDatastore.Core.Memory;
using PbsDatastore.Core.Native;
using PbsDatastore.Core.Store;

namespace PbsDatastore.Core.Maintenance;

public static partial class GarbageCollection
{
    internal enum SweepMode { Remove, DryRun, List }

    /// <summary>
    /// Phase 2 (§7.4, §1.2): iterate the 65536 prefix directories (several at a time), accept PBS's 3.2.4 chunk-name
    /// test (64 or 70 bytes, 64 leading hex digits of either case; bad = ends with <c>.bad</c>), lstat each entry and
    /// classify regular files by whole-second atime: before <c>minAtime</c> removed, before <c>oldestWriter</c> pending,
    /// else in use. Each file is decided and unlinked before the next abort check, so a stopped sweep never leaves a
    /// file half-decided. Progress lines are logged in prefix order exactly as PBS words and numbers them.
    /// </summary>
    private sealed class Sweep : ISliceSweep
    {
        private const int DirectoryCount = ChunkLayout.PrefixCount;
        private const int BlockSize = 256;
        private const string Title = "Garbage collection phase 2: sweep unused chunks";

        private readonly IDatastoreBackend _store;
        private readonly SweepMode _mode;
        private readonly MarkResult _mark;
        private readonly long _minAtime, _oldestWriter;
        private readonly int _workers;
        private readonly ITaskState _state;

        // Ordered progress: per prefix directory, regular files seen and whether any name passed the chunk test.
        private readonly int[] _regularFiles = new int[DirectoryCount];
        private readonly bool[] _hasCandidates = new bool[DirectoryCount];
        private readonly bool[] _done = new bool[DirectoryCount];
        private readonly List<UnreferencedChunk>?[] _listed;
        private readonly object _progressGate = new();
        private int _nextToReport;
        private long _reportedFiles;
        private int _lastPercent;

        public long DiskBytes, DiskChunks, RemovedChunks, RemovedChunkBytes, RemovedBad, RemovedBadBytes;
        public long PendingChunks, PendingChunkBytes, StillBad, PendingBadBytes;
        public long RemovedTempFiles, RemovedTempBytes;
        private readonly bool _removeTempFiles;

        public SweepTotals Totals => new(DiskBytes, DiskChunks, RemovedChunks, RemovedChunkBytes, RemovedBad, RemovedBadBytes,
            PendingChunks, PendingChunkBytes, StillBad, PendingBadBytes);

        public Sweep(IDatastoreBackend store, SweepMode mode, MarkResult mark, long minAtime, long oldestWriter, int workers, ITaskState state,
            bool removeTempFiles = false)
        {
            _removeTempFiles = removeTempFiles && mode != SweepMode.List;
            _store = store;
            _mode = mode;
            _mark = mark;
            _minAtime = minAtime;
            _oldestWriter = oldestWriter;
            _workers = workers;
            _state = state;
            _listed = mode == SweepMode.List ? new List<UnreferencedChunk>?[DirectoryCount] : [];
        }

        public IReadOnlyList<UnreferencedChunk> Unreferenced
            => _listed.Where(l => l is not null).SelectMany(l => l!).ToList();

        /// <summary>
        /// Sweeps the prefix directories of <paramref name="range"/> (whole directories). Called again with the
        /// next range, it goes on counting, listing and logging progress as one sweep over both.
        /// </summary>
        public void Run(DigestRange range)
        {
            var firstDir = (int)(range.First >> DigestPartitions.PrefixDirectoryBits);
            var endDir = (int)(range.Last >> DigestPartitions.PrefixDirectoryBits) + 1;
            try
            {
                // Blocks of neighbouring directories, so that each worker reads the store in directory order.
                WorkerPool.For((endDir - firstDir + BlockSize - 1) / BlockSize, _state, block =>
                {
                    var local = new Counters();
                    try
                    {
                        var first = firstDir + block * BlockSize;
                        for (var dir = first; dir < Math.Min(first + BlockSize, endDir); dir++)
                        {
                            _state.Cancellation.ThrowIfCancellationRequested();
                            SweepDirectory(dir, ref local);
                            DirectoryDone(dir);
                        }
                    }
                    finally
                    {
                        lock (this) local.AddTo(this);
                    }
                }, _workers);
            }
            finally
            {
                _state.Complete(Phase2Activity, Title);
            }
        }

        private void SweepDirectory(int dir, ref Counters c)
        {
            var errno = _store.OpenChunkDirectory(dir, out var directory);
            if (errno == Libc.ENOENT) return;
            if (errno != 0) throw IteratorFailed(dir, errno);
            List<UnreferencedChunk>? listed = null;
            using (directory)
            {
                var entries = directory!;
                while (entries.MoveNext())
                {
                    var name = entries.Name;
                    if (!ChunkLayout.IsChunkName(name, out var bad))
                    {
                        if (_removeTempFiles && ChunkLayout.IsChunkTempName(name))
                            SweepTempFile(entries, dir, ref c);
                        continue;
                    }
                    _hasCandidates[dir] = true;
                    if (_state.Cancellation.IsCancellationRequested)
                        throw new PbsException("OperationStopped", PbsErrorKind.OperationStopped, "abort requested - aborting task");
                    if (entries.Stat(out var st) != 0) continue;
                    if (!st.IsRegularFile) continue;
                    _regularFiles[dir]++;
                    var size = st.Size;
                    var atime = st.AtimeSeconds;
                    if (_mode != SweepMode.Remove && WouldBeTouched(name, bad))
                    {
                        if (_mode == SweepMode.List) continue;
                        atime = _oldestWriter; // phase 1 of a real run would have touched it: in use
                    }
                    else if (_mode == SweepMode.List)
                    {
                        (listed ??= new()).Add(Describe(dir, name, size, atime, bad));
                        continue;
                    }
                    if (atime < _minAtime)
                    {
                        if (_mode == SweepMode.Remove && entries.Remove() is var unlinkErrno && unlinkErrno != 0)
                        {
                            var text = Encoding.UTF8.GetString(name);
                            throw new PbsException("GcUnlinkFailed", PbsErrorKind.WriteError,
                                $"unlinking chunk {RustDebug.Quote(text)} failed on store '{_store.BasePath}' - {Libc.StrError(unlinkErrno)}",
                                Path.Combine(_store.BasePath, ChunkLayout.ChunkDirName, ChunkLayout.PrefixDirName(dir), text));
                        }
                        if (bad) { c.RemovedBad++; c.RemovedBadBytes += size; }
                        else { c.RemovedChunks++; c.RemovedChunkBytes += size; }
                    }
                    else if (atime < _oldestWriter)
                    {
                        if (bad) { c.StillBad++; c.PendingBadBytes += size; }
                        else { c.PendingChunks++; c.PendingChunkBytes += size; }
                    }
                    else
                    {
                        if (!bad) c.DiskChunks++;
                        c.DiskBytes += size;
                    }
                }
                if (entries.Errno != 0) throw IteratorFailed(dir, entries.Errno);
            }
            if (listed is not null) _listed[dir] = listed;
        }

        /// <summary>
        /// A chunk writer's temp file (<c>&lt;hex&gt;.tmp_XXXXXX</c>) left by a killed writer: removed when its last write
        /// (mtime) is before the cutoff, which also lies before the start of the oldest live writer holding the
        /// chunk-store lock, so no live writer can still own it. PBS's GC leaves these files; they are counted apart
        /// from PBS's figures.
        /// </summary>
        private void SweepTempFile(IStoreDirectory entries, int dir, ref Counters c)
        {
            if (entries.Stat(out var st) != 0 || !st.IsRegularFile || st.MtimeSeconds >= _minAtime || st.MtimeSeconds >= _oldestWriter) return;
            if (_mode == SweepMode.Remove && entries.Remove() is var errno && errno != 0 && errno != Libc.ENOENT)
            {
                var text = Encoding.UTF8.GetString(entries.Name);
                throw new PbsException("GcUnlinkFailed", PbsErrorKind.WriteError,
                    $"unlinking stale chunk temp file {RustDebug.Quote(text)} failed on store '{_store.BasePath}' - {Libc.StrError(errno)}",
                    Path.Combine(_store.BasePath, ChunkLayout.ChunkDirName, ChunkLayout.PrefixDirName(dir), text));
            }
            c.RemovedTempFiles++;
            c.RemovedTempBytes += st.Size;
        }

        /// <summary>Whether phase 1 of a real run would have touched this exact file name (dry run and listing).</summary>
        private bool WouldBeTouched(ReadOnlySpan<byte> name, bool bad)
        {
            if (!ChunkLayout.TryParseLowerHex(name, out var key)) return false;
            if (!bad) return name.Length == 64 && _mark.Referenced!.Contains(key);
            return name[64] == (byte)'.' && name[65] is >= (byte)'0' and <= (byte)'9' && _mark.MissingDigests.Contains(key);
        }

        private UnreferencedChunk Describe(int dir, ReadOnlySpan<byte> name, long size, long atime, bool bad)
        {
            var text = Encoding.UTF8.GetString(name);
            return new UnreferencedChunk
            {
                Digest = text[..64].ToLowerInvariant(),
                Name = text,
                Path = Path.Combine(_store.BasePath, ChunkLayout.ChunkDirName, ChunkLayout.PrefixDirName(dir), text),
                Size = size,
                Atime = DateTimeOffset.FromUnixTimeSeconds(atime).LocalDateTime,
                IsBad = bad,
                WouldRemoveNow = atime < _minAtime,
            };
        }

        private void DirectoryDone(int dir)
        {
            lock (_progressGate)
            {
                _done[dir] = true;
                while (_nextToReport < DirectoryCount && _done[_nextToReport])
                {
                    var at = _nextToReport;
                    if (_hasCandidates[at])
                    {
                        var percent = (int)((long)at * 100 / DirectoryCount);
                        if (percent != _lastPercent)
                        {
                            _lastPercent = percent;
                            _state.Log($"processed {percent}% ({_reportedFiles} chunks)");
                        }
                    }
                    _reportedFiles += _regularFiles[at];
                    _nextToReport++;
                    if ((_nextToReport & 0xff) == 0)
                        _state.Progress(Phase2Activity, Title, $"{_nextToReport} of {DirectoryCount} chunk directories", (int)((long)_nextToReport * 100 / DirectoryCount));
                }
            }
        }

        private PbsException IteratorFailed(int dir, int errno)
            => new("GcChunkIteratorFailed", PbsErrorKind.ReadError,
                $"chunk iterator on chunk store '{_store.BasePath}' failed - unable to read subdir '{ChunkLayout.PrefixDirName(dir)}' - {Libc.StrError(errno)}",
                Path.Combine(_store.BasePath, ChunkLayout.ChunkDirName, ChunkLayout.PrefixDirName(dir)));

        private struct Counters
        {
            public long DiskBytes, DiskChunks, RemovedChunks, RemovedChunkBytes, RemovedBad, RemovedBadBytes;
            public long PendingChunks, PendingChunkBytes, StillBad, PendingBadBytes;
            public long RemovedTempFiles, RemovedTempBytes;

            public readonly void AddTo(Sweep s)
            {
                s.RemovedTempFiles += RemovedTempFiles; s.RemovedTempBytes += RemovedTempBytes;
                s.DiskBytes += DiskBytes; s.DiskChunks += DiskChunks;
                s.RemovedChunks += RemovedChunks; s.RemovedChunkBytes += RemovedChunkBytes;
                s.RemovedBad += RemovedBad; s.RemovedBadBytes += RemovedBadBytes;
                s.PendingChunks += PendingChunks; s.PendingChunkBytes += PendingChunkBytes;
                s.StillBad += StillBad; s.PendingBadBytes += PendingBadBytes;
            }
        }
    }
}
