namespace PbsDatastore.Core.Hierarchy;

/// <summary>The `maintenance-mode` property: `type` (default key) and an optional percent-encoded `message`.</summary>
public sealed class MaintenanceMode
{
    private static readonly string[] Types = ["read-only", "offline", "delete", "unmount", "s3-refresh"];

    private MaintenanceMode(string type, string? message)
    {
        Type = type;
        Message = message;
    }

    public string Type { get; }

    /// <summary>The message, percent-decoded as PBS shows it.</summary>
    public string? Message { get; }

    internal static MaintenanceMode Parse(string value, string source)
    {
        var p = PropertyString.Parse(value, "type", source, "maintenance-mode");
        if (!p.TryGetValue("type", out var type) || !Types.Contains(type))
            throw new PbsException("DatastoreConfigInvalid", PbsErrorKind.InvalidData,
                $"{source}: invalid maintenance-mode {PbsNames.Quote(value)}", source);
        foreach (var k in p.Keys)
            if (k != "type" && k != "message")
                throw new PbsException("DatastoreConfigInvalid", PbsErrorKind.InvalidData,
                    $"{source}: unknown maintenance-mode key '{k}'", source);
        return new MaintenanceMode(type, p.TryGetValue("message", out var m) ? Uri.UnescapeDataString(m) : null);
    }

    /// <summary>
    /// Throws DatastoreInMaintenance when PBS would refuse <paramref name="operation"/> on <paramref name="store"/>
    /// (pbs-datastore §12.4, newer modes per the addendum §7.2).
    /// </summary>
    public void Check(string store, DatastoreOperation operation)
    {
        var refused = Type switch
        {
            "read-only" => operation == DatastoreOperation.Write,
            "delete" => true,
            _ => operation != DatastoreOperation.Lookup,
        };
        if (!refused) return;
        var text = Type == "delete"
            ? $"datastore '{store}' is in datastore is being deleted"
            : $"datastore '{store}' is in {Type} maintenance mode{(Message is { Length: > 0 } ? ": " + Message : "")}";
        throw new PbsException("DatastoreInMaintenance", PbsErrorKind.InvalidOperation, text, store);
    }

    public override string ToString() => Message is null ? Type : $"{Type} ({Message})";

    /// <summary>
    /// The property value PBS's API writes: `type=TYPE[,message=…]`, the message percent-encoded (which also keeps
    /// `,`, `=` and quotes out of the property string). Only the modes an administrator sets directly are accepted.
    /// </summary>
    public static string Format(string type, string? message)
    {
        if (type is not ("read-only" or "offline"))
            throw new PbsException("InvalidMaintenanceMode", PbsErrorKind.InvalidArgument,
                $"maintenance mode '{type}' cannot be set here (read-only or offline)", type);
        return string.IsNullOrEmpty(message) ? $"type={type}" : $"type={type},message={Uri.EscapeDataString(message)}";
    }
}
