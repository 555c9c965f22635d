using System.Diagnostics;

namespace PbsDatastore.Core.Tests.Support;

/// <summary>
/// A second process holding a BSD flock (util-linux `flock`) on a file or directory, as a PBS daemon would.
/// Construction returns once the child reports the lock held; Dispose ends exactly that child.
/// </summary>
public sealed class ChildLockHolder : IDisposable
{
    private readonly Process _process;

    public ChildLockHolder(string path, bool exclusive = true)
    {
        // -o: only flock itself holds the lock (not the sleep it runs), so once Dispose has waited for flock's
        // exit the lock is free; an inherited copy in the killed sleep could outlive the wait.
        var psi = new ProcessStartInfo("flock", [exclusive ? "-x" : "-s", "-o", path, "-c", "echo locked; exec sleep 300"])
        {
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
        };
        _process = Process.Start(psi)!;
        var line = _process.StandardOutput.ReadLine();
        if (line != "locked")
        {
            Dispose();
            throw new InvalidOperationException($"flock child did not take the lock on {path}");
        }
    }

    public int Pid => _process.Id;

    public void Dispose()
    {
        try { if (!_process.HasExited) _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        _process.WaitForExit();
        _process.Dispose();
    }
}
