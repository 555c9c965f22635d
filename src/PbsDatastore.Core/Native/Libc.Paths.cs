using System.Runtime.InteropServices;

namespace PbsDatastore.Core.Native;

internal static partial class Libc
{
    [LibraryImport("libc", EntryPoint = "realpath", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr RealPathRaw(string path, IntPtr resolved);

    [LibraryImport("libc", EntryPoint = "free")]
    private static partial void Free(IntPtr pointer);

    /// <summary>The canonical absolute path (all symlinks resolved), or null when it cannot be resolved.</summary>
    public static string? RealPath(string path)
    {
        var p = RealPathRaw(path, IntPtr.Zero);
        if (p == IntPtr.Zero) return null;
        try { return Marshal.PtrToStringUTF8(p); }
        finally { Free(p); }
    }
}
