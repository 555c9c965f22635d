using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Store;

namespace PbsDatastore.Core.Maintenance;

/// <summary>
/// An index file found in a store: its path relative to the store root, its length, and whether its directory is
/// outside the snapshot scheme `[ns path/]type/id/time` (GC's "strange path").
/// </summary>
public sealed record StoreIndexFile(string RelativePath, long FileSize, bool IsStrangePath);

/// <summary>
/// One parallel pass over index files, shared by space accounting and chunk references: every file is read once,
/// largest first so the cores finish together, with progress by bytes and Ctrl+C between files and inside
/// large ones.
/// </summary>
internal static class IndexPass
{
    /// <summary>Entries visited between two abort checks inside one index.</summary>
    public const int AbortCheckInterval = 1 << 16;

    /// <summary>An opened index file and its position in the list.</summary>
    public readonly record struct Visited(int File, IndexFile Index);

    /// <summary>
    /// Calls <paramref name="visit"/> (on worker threads) for each file of <paramref name="files"/> with the
    /// opened index and, when there is one, the previous version of the same archive in the same group (read just
    /// before it on the same thread): successive backups of a disk mostly repeat their digests position by
    /// position, which lets a visitor skip work. A file that vanished since the listing is skipped, as GC does.
    /// Any other failure to read an index throws, unless <paramref name="onUnreadable"/> takes it.
    /// </summary>
    public static void Run(string storePath, IReadOnlyList<StoreIndexFile> files, Action<Visited, Visited?> visit,
        ITaskState state, string activity, Action<StoreIndexFile, PbsException>? onUnreadable = null)
    {
        const int activityId = 1;
        var chains = Chains(files);
        var totalBytes = Math.Max(1, files.Sum(f => f.FileSize));
        long doneBytes = 0, doneFiles = 0;
        var lastPercent = -1;
        try
        {
            ParallelRun.For(chains.Count, state, k =>
            {
                Visited? previous = null;
                foreach (var i in chains[k])
                {
                    var current = Open(i);
                    if (current != null) visit(current.Value, previous);
                    previous = current;
                    Report(files[i].FileSize);
                }
            });
        }
        finally
        {
            state.Complete(activityId, activity);
        }

        Visited? Open(int i)
        {
            state.CheckAbort();
            try
            {
                return new Visited(i, IndexFile.Open(Path.Combine(storePath, files[i].RelativePath)));
            }
            catch (PbsException e) when (e.Kind == PbsErrorKind.ObjectNotFound)
            {
                return null; // vanished since the listing (pruned meanwhile): GC skips it too
            }
            catch (PbsException e) when (onUnreadable != null)
            {
                onUnreadable(files[i], e);
                return null;
            }
        }

        void Report(long fileSize)
        {
            var bytes = Interlocked.Add(ref doneBytes, fileSize);
            var count = Interlocked.Increment(ref doneFiles);
            var percent = (int)(bytes * 100 / totalBytes);
            var last = Volatile.Read(ref lastPercent);
            if (percent > last && Interlocked.CompareExchange(ref lastPercent, percent, last) == last)
                state.Progress(activityId, activity, $"{count} of {files.Count} index files", percent);
        }
    }

    /// <summary>
    /// Work units: the versions of one archive in one group, oldest first (snapshot directory names sort by time),
    /// cut into pieces so that there are several per core; largest first, so the cores finish together.
    /// </summary>
    private static List<int[]> Chains(IReadOnlyList<StoreIndexFile> files)
    {
        var maxLength = Math.Max(1, files.Count / (4 * Environment.ProcessorCount));
        return Enumerable.Range(0, files.Count)
            .GroupBy(i => ArchiveKey(files[i]))
            .SelectMany(g => g.OrderBy(i => files[i].RelativePath, StringComparer.Ordinal).Chunk(maxLength))
            .OrderByDescending(c => c.Sum(i => files[i].FileSize))
            .ToList();
    }

    /// <summary>`group dir/archive name` for an index in a snapshot; the path itself for anything else.</summary>
    private static string ArchiveKey(StoreIndexFile file)
    {
        if (file.IsStrangePath) return file.RelativePath;
        var name = file.RelativePath.LastIndexOf('/');
        var snapshot = file.RelativePath.LastIndexOf('/', name - 1);
        return string.Concat(file.RelativePath.AsSpan(0, snapshot), file.RelativePath.AsSpan(name));
    }

    /// <summary>Opens the chunk store of the datastore at <paramref name="storePath"/> (named by its directory).</summary>
    public static ChunkStore OpenStore(string storePath)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(storePath));
        return ChunkStore.Open(Path.GetFileName(full), full);
    }

    /// <summary>
    /// The index files GC marks (spec §7.2): every entry whose last extension is exactly `fidx` or `didx`, anywhere
    /// below the root, skipping entries whose name starts with a dot (and not descending into such directories)
    /// and never following symlinked directories. Sorted by path for a stable order.
    /// </summary>
    public static List<StoreIndexFile> ListIndexFiles(string storePath, ITaskState state)
    {
        state.CheckAbort();
        var result = new List<StoreIndexFile>();
        var options = new EnumerationOptions
        {
            RecurseSubdirectories = true,
            IgnoreInaccessible = false,
            AttributesToSkip = FileAttributes.None,
            ReturnSpecialDirectories = false,
        };
        var walk = new System.IO.Enumeration.FileSystemEnumerable<StoreIndexFile>(storePath,
            (ref System.IO.Enumeration.FileSystemEntry e) =>
                MakeFile(Path.GetRelativePath(storePath, e.ToFullPath()), e.IsDirectory ? 0 : e.Length),
            options)
        {
            ShouldIncludePredicate = (ref System.IO.Enumeration.FileSystemEntry e) =>
                !e.IsDirectory && IsIndexName(e.FileName),
            ShouldRecursePredicate = (ref System.IO.Enumeration.FileSystemEntry e) =>
                !e.FileName.StartsWith('.') && (e.Attributes & FileAttributes.ReparsePoint) == 0,
        };
        try
        {
            result.AddRange(walk);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new PbsException("PermissionDenied", PbsErrorKind.PermissionDenied,
                $"cannot continue safely, permission denied on: \"{storePath}\" - {e.Message}", storePath, e);
        }
        catch (DirectoryNotFoundException e)
        {
            throw new PbsException("DatastoreNotFound", PbsErrorKind.ObjectNotFound, e.Message, storePath, e);
        }
        result.Sort((a, b) => string.CompareOrdinal(a.RelativePath, b.RelativePath));
        return result;
    }

    private static StoreIndexFile MakeFile(string relativePath, long length)
    {
        var parts = relativePath.Split('/');
        var strange = parts.Length < 4 || !System.Text.RegularExpressions.Regex.IsMatch(parts[^2], @"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\z");
        return new StoreIndexFile(relativePath, length, strange);
    }

    private static bool IsIndexName(ReadOnlySpan<char> name)
        => !name.StartsWith('.') && (name.EndsWith(".fidx", StringComparison.Ordinal) || name.EndsWith(".didx", StringComparison.Ordinal));
}

/// <summary>Parallel loops over all cores that honour Ctrl+C and surface the core's own exceptions unwrapped.</summary>
internal static class ParallelRun
{
    public static void For(int count, ITaskState state, Action<int> body)
    {
        var options = new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = state.Cancellation };
        try
        {
            Parallel.For(0, count, options, body);
        }
        catch (OperationCanceledException)
        {
            state.CheckAbort();
            throw;
        }
        catch (AggregateException e) when (e.InnerExceptions.FirstOrDefault(x => x is PbsException) is { } first)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
        }
    }
}
