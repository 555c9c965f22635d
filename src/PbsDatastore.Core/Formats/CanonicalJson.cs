using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PbsDatastore.Core.Formats;

/// <summary>
/// JSON text exactly as PBS writes it: object keys sorted by code point (= byte-wise UTF-8 order), only <c>"</c>,
/// <c>\</c> and U+0000–U+001F escaped (<c>\b \t \n \f \r</c>, else <c>\u00xx</c>), everything else literal UTF-8.
/// <see cref="Serialize"/> is the compact canonical form that manifest signatures are computed over (null values
/// are an error, ErrorId CanonicalJsonNull); <see cref="SerializePretty"/> is the manifest file text (two-space
/// indentation, no trailing newline).
/// </summary>
public static class CanonicalJson
{
    /// <summary>Compact canonical text (PBS's <c>to_canonical_json</c>); throws CanonicalJsonNull on any null value.</summary>
    public static string Serialize(JsonNode? node)
    {
        var sb = new StringBuilder();
        Write(sb, node, pretty: false, indent: 0);
        return sb.ToString();
    }

    /// <summary>Pretty text with sorted keys, as PBS writes <c>index.json.blob</c>; null values are written as <c>null</c>.</summary>
    public static string SerializePretty(JsonNode? node)
    {
        var sb = new StringBuilder();
        Write(sb, node, pretty: true, indent: 0);
        return sb.ToString();
    }

    /// <summary>Orders keys by Unicode code point, which equals byte-wise order of their UTF-8 encodings.</summary>
    public static int CompareKeys(string? a, string? b)
    {
        if (a is null || b is null) return a is null ? (b is null ? 0 : -1) : 1;
        var n = Math.Min(a.Length, b.Length);
        for (var i = 0; i < n; i++)
        {
            int x = a[i], y = b[i];
            if (x == y) continue;
            // UTF-16 puts U+E000..U+FFFF after surrogates; shift so that surrogate pairs sort after the BMP.
            if (x >= 0xD800 && y >= 0xD800)
            {
                x = x >= 0xE000 ? x - 0x800 : x + 0x2000;
                y = y >= 0xE000 ? y - 0x800 : y + 0x2000;
            }
            return x - y;
        }
        return a.Length - b.Length;
    }

    private static void Write(StringBuilder sb, JsonNode? node, bool pretty, int indent)
    {
        switch (node)
        {
            case null:
                if (!pretty)
                    throw new PbsException("CanonicalJsonNull", PbsErrorKind.InvalidData, "got unexpected null value");
                sb.Append("null");
                break;
            case JsonObject obj:
                var keys = obj.Select(p => p.Key).ToList();
                keys.Sort(CompareKeys);
                WriteContainer(sb, '{', '}', keys.Count, pretty, indent, i =>
                {
                    WriteString(sb, keys[i]);
                    sb.Append(pretty ? ": " : ":");
                    Write(sb, obj[keys[i]], pretty, indent + 1);
                });
                break;
            case JsonArray array:
                WriteContainer(sb, '[', ']', array.Count, pretty, indent, i => Write(sb, array[i], pretty, indent + 1));
                break;
            case JsonValue value:
                WriteValue(sb, value, pretty);
                break;
        }
    }

    private static void WriteContainer(StringBuilder sb, char open, char close, int count, bool pretty, int indent, Action<int> writeItem)
    {
        sb.Append(open);
        for (var i = 0; i < count; i++)
        {
            if (i > 0) sb.Append(',');
            if (pretty) sb.Append('\n').Append(' ', 2 * (indent + 1));
            writeItem(i);
        }
        if (pretty && count > 0) sb.Append('\n').Append(' ', 2 * indent);
        sb.Append(close);
    }

    private static void WriteValue(StringBuilder sb, JsonValue value, bool pretty)
    {
        switch (value.GetValueKind())
        {
            case JsonValueKind.String:
                WriteString(sb, value.GetValue<string>());
                break;
            case JsonValueKind.True:
                sb.Append("true");
                break;
            case JsonValueKind.False:
                sb.Append("false");
                break;
            case JsonValueKind.Number:
                sb.Append(FormatNumber(value));
                break;
            default:
                Write(sb, null, pretty, 0);
                break;
        }
    }

    /// <summary>Integers as written (plain decimal, never via double); other numbers in shortest round-trip form, Rust style (<c>1.0</c>, <c>1e20</c>).</summary>
    private static string FormatNumber(JsonValue value)
    {
        var text = value.ToJsonString();
        if (text.AsSpan().TrimStart('-').ContainsAnyExcept("0123456789"))
        {
            text = double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture).ToString("R", CultureInfo.InvariantCulture).Replace("E+", "e").Replace("E", "e");
            if (!text.Contains('.') && !text.Contains('e')) text += ".0";
        }
        return text;
    }

    private static void WriteString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\b': sb.Append("\\b"); break;
                case '\t': sb.Append("\\t"); break;
                case '\n': sb.Append("\\n"); break;
                case '\f': sb.Append("\\f"); break;
                case '\r': sb.Append("\\r"); break;
                case < ' ': sb.Append("\\u00").Append(((int)c).ToString("x2")); break;
                default: sb.Append(c); break;
            }
        }
        sb.Append('"');
    }
}
