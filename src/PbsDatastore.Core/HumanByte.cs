using System.Globalization;

namespace PbsDatastore.Core;

/// <summary>PBS's HumanByte rendering of sizes in task logs (binary units, 3 decimals, shortest form).</summary>
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
}
