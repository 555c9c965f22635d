using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.S3;
using PbsDatastore.Core.Store;

namespace PbsDatastore.Core.Tests.Support;

/// <summary>
/// Turns an extracted filesystem datastore into a PBS 4.2 S3 store (addendum §4.2/§4.3): the directory stays as
/// the local cache, the bucket gets every chunk and `.bad` file under `STORE/.chunks/`, what PBS uploads of the
/// hierarchy under `STORE/.cnt/` (finished snapshots' files, `owner`, `notes`, `.protected`, `.namespace`) and the
/// `.in-use` marker. Chunks chosen by <c>evict</c> become zero-length markers in place, their atime and mtime
/// kept, so GC sees the same times as on the filesystem store.
/// </summary>
public static class S3ReferenceStore
{
    public const string StoreName = "store1";

    public static void Upload(string storePath, S3Client client, string storeName = StoreName, Func<string, bool>? evict = null)
    {
        var keys = new S3Keys(storeName);
        var chunkDir = Path.Combine(storePath, ChunkLayout.ChunkDirName);
        foreach (var file in Directory.EnumerateFiles(chunkDir, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(storePath, file);
            var key = storeName + "/" + relative;
            if (keys.ParseChunkKey(key) is null) continue; // tmp_ leftovers stay local, as PBS never uploads them
            client.PutObject(key, File.ReadAllBytes(file), replace: false);
            if (evict?.Invoke(relative) == true && !relative.EndsWith(".bad", StringComparison.Ordinal)) Truncate(file);
        }
        UploadNamespace(storePath, "", keys, client);
        client.PutObject(keys.InUseMarker, """{"hostname":"pbs-test"}"""u8.ToArray());
    }

    /// <summary>The keys the bucket must hold for the reference store, derived from the expected JSON.</summary>
    public static SortedSet<string> ExpectedKeys(string storeName = StoreName)
    {
        var store = ReferenceStore.Expected["store"]!;
        var expected = new SortedSet<string>(StringComparer.Ordinal) { $"{storeName}/.in-use" };
        foreach (var c in store["chunks"]!.AsArray()) expected.Add($"{storeName}/{(string)c!["path"]!}");
        foreach (var b in store["bad_files"]!.AsArray()) expected.Add($"{storeName}/{(string)b!["path"]!}");
        foreach (var ns in store["namespaces"]!.AsArray())
            if ((string)ns!["path"]! is { Length: > 0 } p) expected.Add($"{storeName}/.cnt/{p}/.namespace");
        foreach (var g in store["groups"]!.AsArray())
        {
            var dir = (string)g!["path"]!; // includes the namespace path
            if (g!["owner_file"] is not null) expected.Add($"{storeName}/.cnt/{dir}/owner");
            if (g["notes_file"] is not null) expected.Add($"{storeName}/.cnt/{dir}/notes");
        }
        foreach (var s in store["snapshots"]!.AsArray())
        {
            if (!(bool)s!["finished"]!) continue;
            var dir = (string)s["path"]!;
            foreach (var f in s["files"]!.AsArray())
                expected.Add($"{storeName}/.cnt/{dir}/{(string)f!["name"]!}");
            if ((bool)s["protected"]!) expected.Add($"{storeName}/.cnt/{dir}/.protected");
        }
        return expected;
    }

    private static void UploadNamespace(string storePath, string nsDir, S3Keys keys, S3Client client)
    {
        var dir = Path.Combine(storePath, nsDir);
        if (nsDir.Length > 0) client.PutObject(keys.Content($"{nsDir}/{S3Keys.NamespaceMarkerName}"), []);
        foreach (var type in BackupTypes.All.Select(t => t.ToPbsString()))
        {
            var typeDir = Path.Combine(dir, type);
            if (!Directory.Exists(typeDir)) continue;
            foreach (var group in Directory.EnumerateDirectories(typeDir))
            {
                var groupRel = Rel(storePath, group);
                foreach (var name in new[] { "owner", "notes" })
                    if (File.Exists(Path.Combine(group, name)))
                        client.PutObject(keys.Content($"{groupRel}/{name}"), File.ReadAllBytes(Path.Combine(group, name)));
                foreach (var snapshot in Directory.EnumerateDirectories(group))
                {
                    // Only finished snapshots reach the bucket (PBS uploads at backup finish).
                    if (!File.Exists(Path.Combine(snapshot, "index.json.blob"))) continue;
                    foreach (var file in Directory.EnumerateFiles(snapshot))
                    {
                        var name = Path.GetFileName(file);
                        if (name.StartsWith('.') && name != ".protected") continue; // lock files stay local
                        client.PutObject(keys.Content($"{Rel(storePath, snapshot)}/{name}"), File.ReadAllBytes(file));
                    }
                }
            }
        }
        var nsRoot = Path.Combine(dir, "ns");
        if (Directory.Exists(nsRoot))
            foreach (var child in Directory.EnumerateDirectories(nsRoot))
                UploadNamespace(storePath, Rel(storePath, child), keys, client);
    }

    private static string Rel(string storePath, string path) => Path.GetRelativePath(storePath, path).Replace('\\', '/');

    /// <summary>Cuts a cached chunk down to the zero-length marker, keeping its atime and mtime.</summary>
    public static void Truncate(string file)
    {
        var atime = File.GetLastAccessTimeUtc(file);
        var mtime = File.GetLastWriteTimeUtc(file);
        using (new FileStream(file, FileMode.Truncate, FileAccess.Write, FileShare.ReadWrite)) { }
        File.SetLastWriteTimeUtc(file, mtime);
        File.SetLastAccessTimeUtc(file, atime);
    }
}
