using System.Globalization;
using System.Text;

namespace PbsDatastore.Core;

/// <summary>Quotes a string the way Rust's <c>{:?}</c> does, so paths in PBS's messages read the same.</summary>
public static class RustDebug
{
    public static string Quote(string value)
    {
        var sb = new StringBuilder(value.Length + 2).Append('"');
        foreach (var rune in value.EnumerateRunes())
        {
            switch (rune.Value)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\0': sb.Append("\\0"); break;
                default:
                    if (Rune.IsControl(rune))
                        sb.Append(CultureInfo.InvariantCulture, $"\\u{{{rune.Value:x}}}");
                    else
                        sb.Append(rune.ToString());
                    break;
            }
        }
        return sb.Append('"').ToString();
    }
}
