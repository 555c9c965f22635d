using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace PbsDatastore.Core;

/// <summary>
/// PBS task identifier: <c>UPID:node:pid:pstart:task_id:starttime:worker_type:worker_id:auth_id:</c> (§11.3).
/// Tasks of this process are numbered from 0 like PBS's per-process counter. Verify stores one in each
/// manifest's <c>verify_state</c>; PBS reads its start time back for <c>outdated-after</c>.
/// </summary>
public sealed partial record Upid(string Node, int Pid, ulong ProcessStart, ulong TaskId, long StartTime, string WorkerType, string? WorkerId, string AuthId)
{
    private static long _nextTaskId = -1;

    /// <summary>A new UPID for a task of this process starting now.</summary>
    public static Upid Create(string workerType, string? workerId, string? authId = null)
    {
        authId ??= DefaultAuthId();
        // PBS refuses these characters when it creates a UPID; they would break parsing.
        if (workerType.Length == 0 || workerType.IndexOfAny(['/', ':', ' ']) >= 0)
            throw new PbsException("InvalidUpid", PbsErrorKind.InvalidArgument, $"invalid worker type '{workerType}'", workerType);
        if (authId.Length == 0 || authId.IndexOfAny(['/', ':', ' ']) >= 0)
            throw new PbsException("InvalidUpid", PbsErrorKind.InvalidArgument, $"invalid auth id '{authId}'", authId);
        var node = Environment.MachineName.Split('.')[0];
        var taskId = (ulong)Interlocked.Increment(ref _nextTaskId);
        return new Upid(node, Environment.ProcessId, ReadProcessStart(), taskId, DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            workerType, workerId, authId);
    }

    /// <summary>The Auth-ID a local run acts as: <c>root@pam</c> for root, else <c>&lt;user&gt;@pam</c>.</summary>
    public static string DefaultAuthId()
        => Native.Libc.GetEuid() == 0 ? "root@pam" : $"{Environment.UserName}@pam";

    public override string ToString()
        => string.Create(CultureInfo.InvariantCulture,
            $"UPID:{Node}:{Pid:X8}:{ProcessStart:X8}:{TaskId:X8}:{StartTime:X8}:{WorkerType}:{(WorkerId is null ? "" : EscapeWorkerId(WorkerId))}:{AuthId}:");

    /// <summary>Parses a UPID with PBS's regex; InvalidUpid when it does not match.</summary>
    public static Upid Parse(string text)
    {
        var m = UpidRegex().Match(text);
        if (!m.Success)
            throw new PbsException("InvalidUpid", PbsErrorKind.InvalidData, $"unable to parse UPID '{text}'", text);
        var wid = m.Groups["wid"].Value;
        return new Upid(m.Groups["node"].Value,
            int.Parse(m.Groups["pid"].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture),
            ulong.Parse(m.Groups["pstart"].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture),
            ulong.Parse(m.Groups["task"].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture),
            long.Parse(m.Groups["start"].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture),
            m.Groups["wtype"].Value, wid.Length == 0 ? null : UnescapeWorkerId(wid), m.Groups["authid"].Value);
    }

    public static bool TryParse(string? text, out Upid? upid)
    {
        upid = null;
        if (text is null)
            return false;
        try { upid = Parse(text); return true; }
        catch (PbsException) { return false; }
    }

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

    /// <summary>Reverses <see cref="EscapeWorkerId"/>: <c>\xHH</c> (either case) → byte, <c>-</c> → <c>/</c>.</summary>
    public static string UnescapeWorkerId(string escaped)
    {
        var raw = Encoding.UTF8.GetBytes(escaped);
        var bytes = new List<byte>(raw.Length);
        for (var i = 0; i < raw.Length; i++)
        {
            if (raw[i] == '-')
                bytes.Add((byte)'/');
            else if (raw[i] != '\\')
                bytes.Add(raw[i]);
            else if (i + 3 < raw.Length && raw[i + 1] == 'x' && IsHex(raw[i + 2]) && IsHex(raw[i + 3]))
            {
                bytes.Add(Convert.FromHexString(Encoding.ASCII.GetString(raw, i + 2, 2))[0]);
                i += 3;
            }
            else
                throw new PbsException("InvalidUpid", PbsErrorKind.InvalidData, $"invalid escape in worker id '{escaped}'", escaped);
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    private static bool IsHex(byte b) => char.IsAsciiHexDigit((char)b);

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

    [GeneratedRegex(@"^UPID:(?<node>[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):(?<pid>[0-9A-Fa-f]{8}):(?<pstart>[0-9A-Fa-f]{8,9}):(?<task>[0-9A-Fa-f]{8,16}):(?<start>[0-9A-Fa-f]{8}):(?<wtype>[^:\s]+):(?<wid>[^:\s]*):(?<authid>[^:\s]+):\z")]
    private static partial Regex UpidRegex();
}
