using System.Globalization;
using System.Text;

namespace PbsDatastore.Core;

/// <summary>
/// PBS task identifier: <c>UPID:node:pid:pstart:task_id:starttime:worker_type:worker_id:auth_id:</c> (§11.3).
/// Tasks of this process are numbered from 0 like PBS's per-process counter.
/// </summary>
public sealed record Upid(string Node, int Pid, ulong ProcessStart, ulong TaskId, long StartTime, string WorkerType, string? WorkerId, string AuthId)
{
    private static long _nextTaskId = -1;

    /// <summary>A new UPID for a task of this process starting now.</summary>
    public static Upid Create(string workerType, string? workerId, string? authId = null)
    {
        var node = Environment.MachineName.Split('.')[0];
        var taskId = (ulong)Interlocked.Increment(ref _nextTaskId);
        return new Upid(node, Environment.ProcessId, ReadProcessStart(), taskId, DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            workerType, workerId, authId ?? DefaultAuthId());
    }

    /// <summary>The Auth-ID a local run acts as: <c>root@pam</c> for root, else <c>&lt;user&gt;@pam</c>.</summary>
    public static string DefaultAuthId()
        => Native.Libc.GetEuid() == 0 ? "root@pam" : $"{Environment.UserName}@pam";

    public override string ToString()
        => string.Create(CultureInfo.InvariantCulture,
            $"UPID:{Node}:{Pid:X8}:{ProcessStart:X8}:{TaskId:X8}:{StartTime:X8}:{WorkerType}:{(WorkerId is null ? "" : EscapeWorkerId(WorkerId))}:{AuthId}:");

    /// <summary>systemd-unit style escaping of the worker ID, byte-wise over UTF-8.</summary>
    public static string EscapeWorkerId(string workerId)
    {
        var sb = new StringBuilder();
        var bytes = Encoding.UTF8.GetBytes(workerId);
        for (var i = 0; i < bytes.Length; i++)
        {
            var b = bytes[i];
            if (b == '/') sb.Append('-');
            else if ((i == 0 && b == '.') || !(b == '_' || b == '.' || b is >= (byte)'0' and <= (byte)'9' || b is >= (byte)'a' and <= (byte)'z' || b is >= (byte)'A' and <= (byte)'Z'))
                sb.Append(CultureInfo.InvariantCulture, $"\\x{b:x2}");
            else sb.Append((char)b);
        }
        return sb.ToString();
    }

    /// <summary>Field 22 of /proc/self/stat: process start in clock ticks since boot.</summary>
    private static ulong ReadProcessStart()
    {
        try
        {
            var stat = File.ReadAllText("/proc/self/stat");
            // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return ulong.Parse(fields[22 - 3], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException or UnauthorizedAccessException)
        {
            return 0;
        }
    }
}
