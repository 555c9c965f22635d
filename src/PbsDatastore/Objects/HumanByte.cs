using System.Globalization;

namespace PbsDatastore.Objects;

/// <summary>
/// Byte counts as PBS prints them (binary unit by the bit length of the count, 3 decimals rounded half away
/// from zero, shortest form): used by the format views so tables read like PBS's task logs.
/// </summary>
public static class HumanByte
{
    private static readonly string[] Units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

    public static string Format(long bytes) => Format((ulong)Math.Max(0, bytes));

    public static string Format(ulong bytes)
    {
        var unit = 0;
        while (unit < Units.Length - 1 && bytes >= 1UL << (10 * (unit + 1)))
            unit++;
        var value = Math.Round(bytes / Math.Pow(1024, unit), 3, MidpointRounding.AwayFromZero);
        return value.ToString("0.###", CultureInfo.InvariantCulture) + " " + Units[unit];
    }
}
