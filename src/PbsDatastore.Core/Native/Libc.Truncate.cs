using System.Runtime.InteropServices;

namespace PbsDatastore.Core.Native;

internal static partial class Libc
{
    /// <summary>truncate(2): empties a file in place (GC's move-journal drain), keeping its inode, owner and mode.</summary>
    [LibraryImport("libc", EntryPoint = "truncate", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Truncate(string path, long length);
}
