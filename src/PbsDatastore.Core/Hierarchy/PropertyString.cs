using System.Text;

namespace PbsDatastore.Core.Hierarchy;

/// <summary>PBS property strings: `key=value,…`; an item without `=` belongs to the default key; `"…"` quoting.</summary>
internal static class PropertyString
{
    public static Dictionary<string, string> Parse(string? text, string? defaultKey, string source, string property)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (string.IsNullOrEmpty(text)) return result;
        var i = 0;
        while (i < text.Length)
        {
            var item = new StringBuilder();
            string? key = null;
            while (i < text.Length && text[i] != ',')
            {
                var c = text[i];
                if (c == '=' && key == null) { key = item.ToString(); item.Clear(); i++; continue; }
                if (c == '"')
                {
                    i++;
                    for (; ; i++)
                    {
                        if (i >= text.Length) throw Error("unterminated quoted value");
                        if (text[i] == '\\' && i + 1 < text.Length) { item.Append(text[++i]); continue; }
                        if (text[i] == '"') { i++; break; }
                        item.Append(text[i]);
                    }
                    continue;
                }
                item.Append(c);
                i++;
            }
            i++; // skip ','
            key ??= defaultKey ?? throw Error($"value without key: {PbsNames.Quote(item.ToString())}");
            if (!result.TryAdd(key, item.ToString())) throw Error($"duplicate key '{key}'");
        }
        return result;

        PbsException Error(string message) => new("DatastoreConfigInvalid", PbsErrorKind.InvalidData,
            $"{source}: invalid '{property}' value - {message}", source);
    }
}
