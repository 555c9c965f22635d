namespace PbsDatastore.Core.Tests.Support;

/// <summary>
/// A writable copy of the pristine reference store without its 65536 chunk prefix directories (an empty
/// `.chunks` keeps it a datastore): hierarchy and lock tests change snapshots and groups, never chunks, and
/// extracting the whole tarball per test costs far more I/O than the test itself.
/// </summary>
public static class StoreCopy
{
    public static TempDir WithoutChunks()
    {
        var dir = new TempDir("pbs-ref-nochunks-");
        var source = ReferenceStore.PristinePath;
        Copy(source, dir.StorePath);
        return dir;

        static void Copy(string from, string to)
        {
            Directory.CreateDirectory(to);
            foreach (var entry in new DirectoryInfo(from).EnumerateFileSystemInfos())
            {
                var target = Path.Combine(to, entry.Name);
                if (entry.Name == ".chunks") Directory.CreateDirectory(target);
                else if (entry is DirectoryInfo d) Copy(d.FullName, target);
                else File.Copy(entry.FullName, target);
            }
        }
    }
}
