using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using PbsDatastore.Core.Locking;

namespace PbsDatastore.Core.Hierarchy;

/// <summary>
/// This process's entry in PBS's active-operations file of a datastore (§12.5):
/// <c>&lt;run root&gt;/active-operations/&lt;store&gt;</c>, a JSON array of
/// <c>{"pid","starttime","active_operations":{"read","write"}}</c>, rewritten atomically (0660 backup:backup) under
/// the exclusive flock of <c>&lt;store&gt;.lock</c> (10 s). While an operation is registered PBS sees the store as in
/// use: datastore destroy refuses, unmount and S3 refresh wait (addendum §7.2). Only done where PBS keeps the
/// directory (PBS creates it at start-up); elsewhere there is nobody to tell and nothing is created.
/// </summary>
public sealed class ActiveOperations : IDisposable
{
    public static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(10);

    private readonly string _store;
    private readonly DatastoreOperation _operation;
    private int _registered;

    private ActiveOperations(string store, DatastoreOperation operation)
    {
        _store = store;
        _operation = operation;
        _registered = 1;
    }

    public static string Directory => Path.Combine(PbsPaths.RunRoot, "active-operations");

    public static string FileFor(string store) => Path.Combine(Directory, store);

    /// <summary>
    /// Counts one read or write operation of this process on the datastore until disposed; null where PBS keeps no
    /// active-operations directory. Lookups are not counted (PBS counts none either).
    /// </summary>
    public static ActiveOperations? Register(string store, DatastoreOperation operation)
    {
        if (operation == DatastoreOperation.Lookup || !System.IO.Directory.Exists(Directory)) return null;
        Update(store, operation, +1);
        return new ActiveOperations(store, operation);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _registered, 0) == 1)
            Update(_store, _operation, -1);
    }

    /// <summary>
    /// PBS's update: under the lock, drop entries of processes that are gone, drop our own if its start time is
    /// not ours (PID reuse), adjust our counter (our entry goes when both counters are zero), keep every other entry
    /// as it is.
    /// </summary>
    private static void Update(string store, DatastoreOperation operation, int delta)
    {
        var path = FileFor(store);
        using var held = FileLocks.LockFile(path + ".lock", exclusive: true, LockTimeout, "active operations lock");
        var pid = Environment.ProcessId;
        var startTime = ProcessStartTime(pid) ?? throw new PbsException("ActiveOperationsFailed", PbsErrorKind.ReadError,
            $"unable to read the start time of process {pid}", path);
        try
        {
            JsonObject? own = null;
            var kept = new JsonArray();
            foreach (var node in Read(path))
            {
                if (node is not JsonObject entry || entry["pid"]?.GetValue<long>() is not { } entryPid) continue;
                if (!IsRunning(entryPid)) continue;
                if (entryPid == pid)
                {
                    if (entry["starttime"]?.GetValue<long>() == startTime) own = entry;
                    continue;
                }
                kept.Add(entry.DeepClone());
            }
            Write(path, kept, own, pid, startTime, operation, delta);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new PbsException("ActiveOperationsFailed", PbsErrorKind.InvalidData,
                $"unable to parse active operations \"{path}\" - {e.Message}", path, e);
        }
    }

    /// <summary>The other entries plus ours with its counter adjusted (gone when both counters are zero).</summary>
    private static void Write(string path, JsonArray kept, JsonObject? own, long pid, long startTime, DatastoreOperation operation, int delta)
    {
        var counts = own?["active_operations"] as JsonObject;
        var read = Math.Max(0, (counts?["read"]?.GetValue<long>() ?? 0) + (operation == DatastoreOperation.Read ? delta : 0));
        var write = Math.Max(0, (counts?["write"]?.GetValue<long>() ?? 0) + (operation == DatastoreOperation.Write ? delta : 0));
        if (read + write > 0)
            kept.Add(new JsonObject
            {
                ["pid"] = pid,
                ["starttime"] = startTime,
                ["active_operations"] = new JsonObject { ["read"] = read, ["write"] = write },
            });
        AtomicFile.Replace(path, Encoding.UTF8.GetBytes(kept.ToJsonString()), 0x1B0 /* 0660 */, BackupOwner.ForNewFiles());
    }

    private static JsonArray Read(string path)
    {
        var errno = Native.Libc.ReadAllNoFlock(path, out var bytes);
        if (errno == Native.Libc.ENOENT || (errno == 0 && bytes.Length == 0)) return [];
        if (errno != 0)
            throw new PbsException("ActiveOperationsFailed", PbsErrorKind.ReadError,
                $"unable to read active operations \"{path}\" - {Native.Libc.StrError(errno)}", path);
        // Never rewrite what PBS could not read back either: a broken file stops the operation.
        try { return JsonNode.Parse(bytes) as JsonArray ?? throw new System.Text.Json.JsonException("not an array"); }
        catch (System.Text.Json.JsonException e)
        {
            throw new PbsException("ActiveOperationsFailed", PbsErrorKind.InvalidData,
                $"unable to parse active operations \"{path}\" - {e.Message}", path, e);
        }
    }

    private static bool IsRunning(long pid) => System.IO.Directory.Exists($"/proc/{pid}");

    /// <summary>Field 22 of /proc/&lt;pid&gt;/stat: start time in clock ticks since boot, PBS's PID-reuse guard.</summary>
    internal static long? ProcessStartTime(long pid)
    {
        string stat;
        try { stat = File.ReadAllText($"/proc/{pid}/stat"); }
        catch (IOException) { return null; }
        // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.TryParse(fields[22 - 3], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks) ? ticks : null;
    }
}
