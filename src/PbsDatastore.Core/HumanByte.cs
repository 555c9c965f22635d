using System.Globalization;

namespace PbsDatastore.Core;

/// <summary>PBS's HumanByte: rendering of sizes in task logs (binary units, 3 decimals, shortest form) and parsing
/// of size values in configuration files.</summary>
public static class HumanByte
{
    private static readonly string[] Units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

    public static string Format(ulong bytes) => Format(bytes, 3);

    /// <summary>With at most <paramref name="decimals"/> decimals: 2 as PBS's web UI shows sizes (narrow table columns).</summary>
    public static string Format(ulong bytes, int decimals)
    {
        // The unit follows the bit length of the byte count: below 2^10 bytes, below 2^20 KiB, ...
        var unit = 0;
        while (unit < Units.Length - 1 && bytes >= 1UL << (10 * (unit + 1)))
            unit++;
        var value = Math.Round(bytes / Math.Pow(1024, unit), decimals, MidpointRounding.AwayFromZero);
        return value.ToString("0." + new string('#', decimals), CultureInfo.InvariantCulture) + " " + Units[unit];
    }

    public static string Format(long bytes) => Format((ulong)Math.Max(0, bytes));

    public static string Format(long bytes, int decimals) => Format((ulong)Math.Max(0, bytes), decimals);

    private static readonly (string Suffix, ulong Factor)[] ParseUnits =
    [
        ("KiB", 1UL << 10), ("MiB", 1UL << 20), ("GiB", 1UL << 30), ("TiB", 1UL << 40), ("PiB", 1UL << 50),
        ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000), ("PB", 1_000_000_000_000_000),
        // single letters are binary, as PBS reads them
        ("K", 1UL << 10), ("M", 1UL << 20), ("G", 1UL << 30), ("T", 1UL << 40), ("P", 1UL << 50), ("B", 1),
    ];

    /// <summary>
    /// Parses a configuration size such as `10 MiB`, `1.5G`, `100MB` or `4096` (bytes); null when malformed.
    /// </summary>
    public static ulong? TryParse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var t = text.Trim();
        ulong factor = 1;
        foreach (var (suffix, f) in ParseUnits)
        {
            if (!t.EndsWith(suffix, StringComparison.Ordinal)) continue;
            factor = f;
            t = t[..^suffix.Length].TrimEnd();
            break;
        }
        if (!decimal.TryParse(t, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number)) return null;
        var bytes = number * factor;
        return bytes > ulong.MaxValue ? null : (ulong)decimal.Floor(bytes);
    }
}
