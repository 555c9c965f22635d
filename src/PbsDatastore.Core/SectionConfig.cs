using System.Text;

namespace PbsDatastore.Core;

/// <summary>One section of a PBS section-config file: `TYPE: ID` header and its `key value` lines.</summary>
internal sealed record SectionConfigSection(string Type, string Id, Dictionary<string, string> Properties, int HeaderLine);

/// <summary>
/// The syntax PBS's section-config files share (datastore.cfg, s3.cfg): `TYPE: ID` headers, indented `key value`
/// lines, sections separated by blank lines; key-only lines, duplicate sections and control characters are errors.
/// Array properties are written as one line per element; those keys are joined with ',' here.
/// </summary>
internal static class SectionConfig
{
    /// <summary>
    /// Reads a section-config file as strict UTF-8 (PBS refuses other encodings). A missing file throws
    /// <paramref name="notFoundId"/>, an unreadable one <paramref name="unreadableId"/>; messages name the file as
    /// <paramref name="what"/>.
    /// </summary>
    public static string ReadText(string path, string notFoundId, string unreadableId, string what)
    {
        try { return File.ReadAllText(path, new UTF8Encoding(false, true)); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new PbsException(notFoundId, PbsErrorKind.ObjectNotFound, $"{what} \"{path}\" not found", path, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or DecoderFallbackException)
        {
            throw new PbsException(unreadableId,
                e is UnauthorizedAccessException ? PbsErrorKind.PermissionDenied : PbsErrorKind.ReadError,
                $"unable to read {what} \"{path}\" - {e.Message}", path, e);
        }
    }

    /// <param name="sectionTypes">Accepted section types.</param>
    /// <param name="knownKey">Whether a key is valid (PBS refuses unknown keys).</param>
    /// <param name="arrayKey">Whether a key may repeat (array property).</param>
    /// <param name="error">Builds the exception for a message that already carries `source:line:`.</param>
    public static List<SectionConfigSection> Parse(string text, string source, IReadOnlyCollection<string> sectionTypes,
        Func<string, bool> knownKey, Func<string, bool> arrayKey, Func<string, PbsException> error)
    {
        var sections = new List<SectionConfigSection>();
        SectionConfigSection? current = null;
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            var lineNo = i + 1;
            if (line.Trim().Length == 0)
            {
                current = null;
                continue;
            }
            if (current == null)
            {
                if (!char.IsAsciiLetter(line[0]))
                    throw Error(lineNo, "syntax error (expected header)");
                var colon = line.IndexOf(':');
                if (colon < 0) throw Error(lineNo, "syntax error (expected header)");
                var type = line[..colon].Trim();
                var id = line[(colon + 1)..].Trim();
                if (!sectionTypes.Contains(type)) throw Error(lineNo, $"unknown section type '{type}'");
                if (id.Length < 3 || id.Length > 32 || !PbsNames.IsSafeId(id))
                    throw Error(lineNo, $"invalid {type} name {PbsNames.Quote(id)}");
                if (sections.Any(e => e.Id == id)) throw Error(lineNo, $"duplicate section '{id}'");
                current = new SectionConfigSection(type, id, new Dictionary<string, string>(StringComparer.Ordinal), lineNo);
                sections.Add(current);
                continue;
            }
            if (!char.IsWhiteSpace(line[0])) throw Error(lineNo, "syntax error (expected section properties)");
            var body = line.TrimStart();
            var ws = body.IndexOfAny([' ', '\t']);
            if (ws < 0) throw Error(lineNo, "syntax error (expected section properties)");
            var key = body[..ws];
            var value = body[ws..].Trim();
            if (!knownKey(key)) throw Error(lineNo, $"unknown property '{key}'");
            if (value.Any(char.IsControl)) throw Error(lineNo, $"property '{key}' contains control characters");
            var props = current.Properties;
            if (props.TryGetValue(key, out var earlier))
            {
                if (!arrayKey(key)) throw Error(lineNo, $"duplicate property '{key}'");
                props[key] = earlier + "," + value;
            }
            else props[key] = value;
        }
        return sections;

        PbsException Error(int line, string message) => error($"{source}:{line}: {message}");
    }
}
