using System.Runtime.InteropServices;

namespace PbsDatastore.Core.Native;

internal static partial class Libc
{
    /// <summary>syncfs(2): commits the file system holding <paramref name="fd"/> (PBS's default sync level at backup end).</summary>
    [LibraryImport("libc", EntryPoint = "syncfs", SetLastError = true)]
    public static partial int Syncfs(int fd);
}
