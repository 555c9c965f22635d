namespace PbsDatastore.Core.Hierarchy;

/// <summary>
/// A PBS namespace: 0…7 SAFE_ID components; the empty list is the root. Display form `a/b/c` (root: empty string),
/// on-disk path `ns/a/ns/b/ns/c` relative to the datastore. Immutable; every instance is valid.
/// </summary>
public sealed class BackupNamespace : IEquatable<BackupNamespace>, IComparable<BackupNamespace>
{
    private readonly string[] _components;

    public static readonly BackupNamespace Root = new([]);

    private BackupNamespace(string[] components)
    {
        _components = components;
        Name = string.Join('/', components);
        RelativePath = string.Concat(components.Select((c, i) => (i == 0 ? "ns/" : "/ns/") + c));
    }

    public IReadOnlyList<string> Components => _components;

    public int Depth => _components.Length;

    public bool IsRoot => _components.Length == 0;

    /// <summary>Display form: `a/b/c`, empty for the root.</summary>
    public string Name { get; }

    /// <summary>Path relative to the datastore: `ns/a/ns/b/ns/c`, empty for the root.</summary>
    public string RelativePath { get; }

    public BackupNamespace? Parent => IsRoot ? null : new BackupNamespace(_components[..^1]);

    /// <summary>Appends a component with PBS's checks (component syntax, depth, total length).</summary>
    public BackupNamespace Child(string component)
    {
        PbsNames.ValidateNamespaceComponent(component);
        if (Depth >= PbsNames.MaxNamespaceDepth)
            throw new PbsException("InvalidNamespace", PbsErrorKind.InvalidArgument,
                $"namespace too deep, {Depth} >= max {PbsNames.MaxNamespaceDepth}", Name + "/" + component);
        // PBS checks "current length + component + 1 > 256", even for the first component.
        if (Name.Length + component.Length + 1 > PbsNames.MaxNamespaceLength)
            throw new PbsException("InvalidNamespace", PbsErrorKind.InvalidArgument,
                "namespace length exceeded", Name + "/" + component);
        return new BackupNamespace([.. _components, component]);
    }

    /// <summary>Parses the display form `a/b/c` (empty or "/"-free root: ""). Throws InvalidNamespace.</summary>
    public static BackupNamespace Parse(string? name)
    {
        if (name == null)
            throw new PbsException("InvalidNamespace", PbsErrorKind.InvalidArgument, "namespace is null", null);
        var ns = Root;
        if (name.Length == 0) return ns;
        foreach (var part in name.Split('/'))
        {
            if (part.Length == 0)
                throw new PbsException("InvalidNamespace", PbsErrorKind.InvalidArgument,
                    $"invalid namespace {PbsNames.Quote(name)} - empty component", name);
            ns = ns.Child(part);
        }
        return ns;
    }

    public static bool TryParse(string? name, out BackupNamespace ns)
    {
        try { ns = Parse(name); return true; }
        catch (PbsException) { ns = Root; return false; }
    }

    /// <summary>Parses the path form `ns/a/ns/b` (a trailing slash is accepted), as PBS does.</summary>
    public static BackupNamespace FromPath(string path)
    {
        var ns = Root;
        var rest = path;
        while (rest.Length > 0)
        {
            if (!rest.StartsWith("ns/", StringComparison.Ordinal))
                throw new PbsException("InvalidNamespace", PbsErrorKind.InvalidArgument,
                    $"invalid component in namespace path at {PbsNames.Quote(rest)}", path);
            rest = rest[3..];
            var slash = rest.IndexOf('/');
            var component = slash < 0 ? rest : rest[..slash];
            rest = slash < 0 ? "" : rest[(slash + 1)..];
            ns = ns.Child(component);
        }
        return ns;
    }

    /// <summary>True if <paramref name="other"/> is this namespace or below it.</summary>
    public bool Contains(BackupNamespace other)
        => other.Depth >= Depth && _components.AsSpan().SequenceEqual(other._components.AsSpan(0, Depth));

    public bool Equals(BackupNamespace? other) => other is not null && Name == other.Name;
    public override bool Equals(object? obj) => Equals(obj as BackupNamespace);
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Name);
    public int CompareTo(BackupNamespace? other)
    {
        if (other is null) return 1;
        for (var i = 0; i < Math.Min(Depth, other.Depth); i++)
        {
            var c = string.CompareOrdinal(_components[i], other._components[i]);
            if (c != 0) return c;
        }
        return Depth.CompareTo(other.Depth);
    }

    public static bool operator ==(BackupNamespace? a, BackupNamespace? b) => a is null ? b is null : a.Equals(b);
    public static bool operator !=(BackupNamespace? a, BackupNamespace? b) => !(a == b);

    public override string ToString() => Name;
}
