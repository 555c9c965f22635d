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

    /// <summary>
    /// Calls <paramref name="visit"/> (on worker threads) with the position of each file in
    /// <paramref name="files"/> and the opened index. A file that vanished since the listing is skipped, as GC
    /// does. Any other failure to read an index throws, unless <paramref name="onUnreadable"/> takes it.
    /// </summary>
    public static void Run(string storePath, IReadOnlyList<StoreIndexFile> files, Action<int, IndexFile> visit,
        ITaskState state, string activity, Action<StoreIndexFile, PbsException>? onUnreadable = null)
    {
        const int activityId = 1;
        var order = Enumerable.Range(0, files.Count).OrderByDescending(i => files[i].FileSize).ToArray();
        var totalBytes = Math.Max(1, files.Sum(f => f.FileSize));
        long doneBytes = 0, doneFiles = 0;
        var lastPercent = -1;
        try
        {
            ParallelRun.For(order.Length, state, k => Visit(order[k]));
        }
        finally
        {
            state.Complete(activityId, activity);
        }

        void Visit(int i)
        {
            state.CheckAbort();
            var file = files[i];
            IndexFile? index = null;
            try
            {
                index = IndexFile.Open(Path.Combine(storePath, file.RelativePath));
            }
            catch (PbsException e) when (e.Kind == PbsErrorKind.ObjectNotFound)
            {
                // Vanished since the listing (pruned meanwhile): GC skips it too.
            }
            catch (PbsException e) when (onUnreadable != null)
            {
                onUnreadable(file, e);
            }
            if (index != null) visit(i, index);

            var bytes = Interlocked.Add(ref doneBytes, file.FileSize);
            var count = Interlocked.Increment(ref doneFiles);
            var percent = (int)(bytes * 100 / totalBytes);
            var last = Volatile.Read(ref lastPercent);
            if (percent > last && Interlocked.CompareExchange(ref lastPercent, percent, last) == last)
                state.Progress(activityId, activity, $"{count} of {files.Count} index files", percent);
        }
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
