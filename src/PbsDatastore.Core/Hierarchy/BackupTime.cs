namespace PbsDatastore.Core.Hierarchy;

/// <summary>
/// Snapshot times: the directory name is the UTC time as `YYYY-MM-DDTHH:MM:SSZ` (years 0000…9999). Parsing
/// follows PBS's `parse_rfc3339`: fixed positions, upper bounds only, then C `timegm` normalisation, so
/// `2021-02-31T00:00:00Z` is accepted as 2021-03-03. <see cref="IsCanonical"/> tells such names apart.
/// </summary>
public static class BackupTime
{
    private const long MinEpoch = -62167219200;   // 0000-01-01T00:00:00Z
    private const long MaxEpoch = 253402300799;   // 9999-12-31T23:59:59Z

    /// <summary>Formats an epoch as a snapshot directory name. Throws InvalidBackupTime outside years 0…9999.</summary>
    public static string Format(long epoch)
    {
        if (epoch < MinEpoch || epoch > MaxEpoch)
            throw new PbsException("InvalidBackupTime", PbsErrorKind.InvalidArgument,
                $"backup time {epoch} is outside the years 0000..9999", epoch);
        var days = Math.DivRem(epoch, 86400, out var secs);
        if (secs < 0) { secs += 86400; days--; }
        var (y, m, d) = CivilFromDays(days);
        return $"{y:D4}-{m:D2}-{d:D2}T{secs / 3600:D2}:{secs / 60 % 60:D2}:{secs % 60:D2}Z";
    }

    /// <summary>PBS's lenient RFC 3339 parser (20-character UTC form or 25-character offset form).</summary>
    public static long Parse(string? text)
        => TryParse(text, out var epoch, out var error) ? epoch
            : throw new PbsException("InvalidBackupTime", PbsErrorKind.InvalidArgument,
                $"failed to parse rfc3339 timestamp ({PbsNames.Quote(text)}) - {error}", text);

    public static bool TryParse(string? text, out long epoch) => TryParse(text, out epoch, out _);

    /// <summary>True if the name is a snapshot directory name (regex) that re-formats to itself.</summary>
    public static bool IsCanonical(string name)
        => PbsNames.BackupTime().IsMatch(name) && TryParse(name, out var t) && Format(t) == name;

    private static bool TryParse(string? text, out long epoch, out string error)
    {
        epoch = 0;
        if (text == null) { error = "timestamp is null"; return false; }
        int offset;
        if (text.Length == 20)
        {
            if (text[19] != 'Z') { error = "unexpected length in UTC timestamp"; return false; }
            offset = 0;
        }
        else if (text.Length == 25)
        {
            var sign = text[19];
            if (sign != '+' && sign != '-') { error = "unexpected timezone indicator"; return false; }
            if (!Digits(text, 20, 2, out var oh) || text[22] != ':' || !Digits(text, 23, 2, out var om))
            { error = "unable to parse timezone offset"; return false; }
            if (oh > 23 || om > 59) { error = "timezone offset out of range"; return false; }
            offset = (oh * 3600 + om * 60) * (sign == '+' ? 1 : -1);
        }
        else { error = "timestamp of unexpected length"; return false; }

        if (!Digits(text, 0, 4, out var year) || text[4] != '-' || !Digits(text, 5, 2, out var month) || text[7] != '-'
            || !Digits(text, 8, 2, out var day) || text[10] != 'T' || !Digits(text, 11, 2, out var hour) || text[13] != ':'
            || !Digits(text, 14, 2, out var minute) || text[16] != ':' || !Digits(text, 17, 2, out var second))
        { error = "unable to parse timestamp"; return false; }
        if (month > 12 || day > 31 || hour > 23 || minute > 59 || second > 60)
        { error = "field out of range"; return false; }

        // timegm normalisation: month 0 is December of the year before, day 0 the last day of the month before.
        long m0 = month - 1;
        long y = year + Math.DivRem(m0, 12, out var mrem);
        if (mrem < 0) { mrem += 12; y--; }
        var days = DaysFromCivil(y, (int)mrem + 1, 1) + day - 1;
        epoch = days * 86400 + hour * 3600 + minute * 60 + second - offset;
        error = "";
        return true;
    }

    private static bool Digits(string s, int start, int count, out int value)
    {
        value = 0;
        for (var i = start; i < start + count; i++)
        {
            var c = s[i];
            if (c < '0' || c > '9') return false;
            value = value * 10 + (c - '0');
        }
        return true;
    }

    // Howard Hinnant's civil calendar algorithms (proleptic Gregorian, any year).
    private static long DaysFromCivil(long y, int m, int d)
    {
        y -= m <= 2 ? 1 : 0;
        var era = (y >= 0 ? y : y - 399) / 400;
        var yoe = y - era * 400;
        var doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        var doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
    }

    private static (long Y, int M, int D) CivilFromDays(long z)
    {
        z += 719468;
        var era = (z >= 0 ? z : z - 146096) / 146097;
        var doe = z - era * 146097;
        var yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        var y = yoe + era * 400;
        var doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        var mp = (5 * doy + 2) / 153;
        var d = (int)(doy - (153 * mp + 2) / 5 + 1);
        var m = (int)(mp < 10 ? mp + 3 : mp - 9);
        return (y + (m <= 2 ? 1 : 0), m, d);
    }
}
