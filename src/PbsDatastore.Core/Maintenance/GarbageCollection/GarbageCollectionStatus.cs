using System.Buffers;
using System.Text;
using System.Text.Json;

namespace PbsDatastore.Core.Maintenance;

/// <summary>
/// PBS's GarbageCollectionStatus: the counters of one GC run, persisted as <c>&lt;store&gt;/.gc-status</c> (§1.4) in
/// PBS's exact form (compact JSON, fixed key order, <c>upid</c> written as null when absent, no trailing newline).
/// </summary>
public sealed record GarbageCollectionStatus
{
    public const string FileName = ".gc-status";

    public string? Upid { get; init; }
    public long IndexFileCount { get; init; }
    public long IndexDataBytes { get; init; }
    public long DiskBytes { get; init; }
    public long DiskChunks { get; init; }
    public long RemovedBytes { get; init; }
    public long RemovedChunks { get; init; }
    public long PendingBytes { get; init; }
    public long PendingChunks { get; init; }
    public long RemovedBad { get; init; }
    public long StillBad { get; init; }

    /// <summary>PBS 4.0.2+ digest-cache statistics; kept when read, never written (older PBS versions reject nothing, but 3.2.4 has no such field).</summary>
    public long? CacheHits { get; init; }
    public long? CacheMisses { get; init; }

    private static readonly (string Key, Func<GarbageCollectionStatus, long> Get)[] Counters =
    [
        ("index-file-count", s => s.IndexFileCount),
        ("index-data-bytes", s => s.IndexDataBytes),
        ("disk-bytes", s => s.DiskBytes),
        ("disk-chunks", s => s.DiskChunks),
        ("removed-bytes", s => s.RemovedBytes),
        ("removed-chunks", s => s.RemovedChunks),
        ("pending-bytes", s => s.PendingBytes),
        ("pending-chunks", s => s.PendingChunks),
        ("removed-bad", s => s.RemovedBad),
        ("still-bad", s => s.StillBad),
    ];

    /// <summary>The file's exact text.</summary>
    public string ToJson()
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            if (Upid is null) w.WriteNull("upid"); else w.WriteString("upid", Upid);
            foreach (var (key, get) in Counters)
                w.WriteNumber(key, get(this));
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>
    /// Parses the file's text as PBS does: every counter is required, <c>upid</c> may be missing or null, unknown
    /// keys are ignored. Throws <see cref="PbsException"/> (InvalidGcStatus) otherwise.
    /// </summary>
    public static GarbageCollectionStatus Parse(string json, string? source = null)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Invalid("not a JSON object", source);
            long Get(string key) =>
                root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) && n >= 0
                    ? n
                    : throw Invalid($"missing or invalid field '{key}'", source);
            string? upid = null;
            if (root.TryGetProperty("upid", out var u))
                upid = u.ValueKind switch
                {
                    JsonValueKind.Null => null,
                    JsonValueKind.String => u.GetString(),
                    _ => throw Invalid("field 'upid' is not a string", source),
                };
            long? hits = null, misses = null;
            if (root.TryGetProperty("cache-stats", out var cache) && cache.ValueKind == JsonValueKind.Object)
            {
                if (cache.TryGetProperty("hits", out var h) && h.TryGetInt64(out var hv)) hits = hv;
                if (cache.TryGetProperty("misses", out var m) && m.TryGetInt64(out var mv)) misses = mv;
            }
            return new GarbageCollectionStatus
            {
                Upid = upid,
                IndexFileCount = Get("index-file-count"),
                IndexDataBytes = Get("index-data-bytes"),
                DiskBytes = Get("disk-bytes"),
                DiskChunks = Get("disk-chunks"),
                RemovedBytes = Get("removed-bytes"),
                RemovedChunks = Get("removed-chunks"),
                PendingBytes = Get("pending-bytes"),
                PendingChunks = Get("pending-chunks"),
                RemovedBad = Get("removed-bad"),
                StillBad = Get("still-bad"),
                CacheHits = hits,
                CacheMisses = misses,
            };
        }
        catch (JsonException e)
        {
            throw Invalid(e.Message, source, e);
        }
    }

    /// <summary>
    /// Reads <c>&lt;store&gt;/.gc-status</c>. A missing file is the all-zero status (as PBS shows a store never
    /// collected); an unreadable or malformed one throws <see cref="PbsException"/>.
    /// </summary>
    public static GarbageCollectionStatus Read(Hierarchy.Datastore datastore)
    {
        datastore.CheckOperation(Hierarchy.DatastoreOperation.Read);
        return Read(datastore.Path);
    }

    internal static GarbageCollectionStatus Read(string storePath)
    {
        var path = Path.Combine(storePath, FileName);
        string text;
        try { text = File.ReadAllText(path); }
        catch (FileNotFoundException) { return new GarbageCollectionStatus(); }
        catch (DirectoryNotFoundException)
        {
            throw new PbsException("DatastoreNotFound", PbsErrorKind.ObjectNotFound, $"datastore path '{storePath}' does not exist", storePath);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new PbsException("PermissionDenied", PbsErrorKind.PermissionDenied, $"unable to read '{path}' - {e.Message}", path, e);
        }
        catch (IOException e)
        {
            throw new PbsException("GcStatusReadFailed", PbsErrorKind.ReadError, $"unable to read '{path}' - {e.Message}", path, e);
        }
        return Parse(text, path);
    }

    /// <summary>Replaces <c>&lt;store&gt;/.gc-status</c> atomically (§12.1), mode 0644, backup:backup when running as root.</summary>
    public void Write(string storePath)
        => AtomicFile.Replace(Path.Combine(storePath, FileName), Encoding.UTF8.GetBytes(ToJson()), AtomicFile.DefaultMode, BackupOwner.ForNewFiles());

    private static PbsException Invalid(string detail, string? source, Exception? inner = null)
        => new("InvalidGcStatus", PbsErrorKind.InvalidData, $"error reading gc-status: {detail}", source, inner);
}
