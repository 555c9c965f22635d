using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace PbsDatastore.Core;

/// <summary>
/// PBS's task identifier (spec §11.3): <c>UPID:node:pid:pstart:task_id:starttime:type:escaped-id:authid:</c>.
/// Verify stores one in each manifest's <c>verify_state</c>; PBS reads its start time for <c>outdated-after</c>.
/// </summary>
public sealed partial record Upid(string Node, uint Pid, ulong ProcessStart, ulong TaskId, long StartTime,
    string WorkerType, string? WorkerId, string AuthId)
{
    private static long _nextTaskId = -1;

    /// <summary>A UPID for a task of this process starting now, numbered like PBS's per-process task counter.</summary>
    public static Upid ForNewTask(string workerType, string? workerId, string authId)
    {
        if (workerType.Length == 0 || workerType.IndexOfAny(['/', ':', ' ']) >= 0)
            throw new PbsException("InvalidUpid", PbsErrorKind.InvalidArgument, $"invalid worker type '{workerType}'", workerType);
        if (authId.Length == 0 || authId.IndexOfAny(['/', ':', ' ']) >= 0)
            throw new PbsException("InvalidUpid", PbsErrorKind.InvalidArgument, $"invalid auth id '{authId}'", authId);
        return new Upid(NodeName(), (uint)Environment.ProcessId, OwnProcessStart(), (ulong)Interlocked.Increment(ref _nextTaskId),
            DateTimeOffset.UtcNow.ToUnixTimeSeconds(), workerType, workerId, authId);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"UPID:{Node}:{Pid:X8}:{ProcessStart:X8}:{TaskId:X8}:{StartTime:X8}:{WorkerType}:{(WorkerId is null ? "" : EscapeWorkerId(WorkerId))}:{AuthId}:");

    public static Upid Parse(string text)
    {
        var m = UpidRegex().Match(text);
        if (!m.Success)
            throw new PbsException("InvalidUpid", PbsErrorKind.InvalidData, $"unable to parse UPID '{text}'", text);
        var wid = m.Groups["wid"].Value;
        return new Upid(m.Groups["node"].Value,
            uint.Parse(m.Groups["pid"].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture),
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

    /// <summary>systemd-unit style escaping PBS applies to worker IDs (byte-wise over UTF-8).</summary>
    public static string EscapeWorkerId(string id)
    {
        var text = new StringBuilder();
        var bytes = Encoding.UTF8.GetBytes(id);
        for (var i = 0; i < bytes.Length; i++)
        {
            var b = bytes[i];
            if (b == '/')
                text.Append('-');
            else if ((i == 0 && b == '.') || !(b == '_' || b == '.' || char.IsAsciiLetterOrDigit((char)b)))
                text.Append(CultureInfo.InvariantCulture, $"\\x{b:x2}");
            else
                text.Append((char)b);
        }
        return text.ToString();
    }

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

    private static string NodeName()
    {
        var host = Environment.MachineName;
        var dot = host.IndexOf('.');
        return dot > 0 ? host[..dot] : host;
    }

    /// <summary>Field 22 of /proc/self/stat (start time in clock ticks since boot), as PBS takes it.</summary>
    private static ulong OwnProcessStart()
    {
        try
        {
            var stat = File.ReadAllText("/proc/self/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return ulong.Parse(fields[19], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 0;
        }
    }

    [GeneratedRegex(@"^UPID:(?<node>[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):(?<pid>[0-9A-Fa-f]{8}):(?<pstart>[0-9A-Fa-f]{8,9}):(?<task>[0-9A-Fa-f]{8,16}):(?<start>[0-9A-Fa-f]{8}):(?<wtype>[^:\s]+):(?<wid>[^:\s]*):(?<authid>[^:\s]+):\z")]
    private static partial Regex UpidRegex();
}
