using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace PbsDatastore.Core.Tests.Support;

/// <summary>
/// Which namespace of an assembly uses which, read from the compiled metadata: base types, interfaces, generic
/// constraints, field/method/property/event signatures, locals, catch types, attribute constructors and every
/// type, method and field token in the IL. A nested or compiler-made type (closure, iterator) counts for the
/// namespace of its outermost type. Constants are inlined by the compiler and leave no trace in metadata, so the
/// `using` directives of the source files are added (<see cref="AddUsings"/>).
/// </summary>
public sealed class NamespaceGraph
{
    private static readonly Dictionary<short, OperandType> OperandTypes = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value, o => o.OperandType);

    private readonly string _prefix;

    /// <summary>Edges: namespace → used namespace → one example ("Type uses Type" or "File: using").</summary>
    public Dictionary<string, Dictionary<string, string>> Edges { get; } = new(StringComparer.Ordinal);

    private NamespaceGraph(string prefix) => _prefix = prefix;

    /// <summary>The graph of the namespaces of <paramref name="assembly"/> that start with <paramref name="prefix"/>.</summary>
    public static NamespaceGraph Of(Assembly assembly, string prefix)
    {
        var graph = new NamespaceGraph(prefix);
        using var pe = new PEReader(File.OpenRead(assembly.Location));
        var md = pe.GetMetadataReader();
        foreach (var handle in md.TypeDefinitions)
        {
            var from = OutermostName(md, handle);
            foreach (var used in TypesUsedBy(md, pe, handle))
                graph.Add(from.Namespace, OutermostName(md, used).Namespace,
                    () => $"{from.Full} uses {OutermostName(md, used).Full}");
        }
        return graph;
    }

    /// <summary>Adds an edge for every `using PREFIX.X;` in the C# files below <paramref name="sourceDir"/>.</summary>
    public void AddUsings(string sourceDir)
    {
        foreach (var file in Directory.EnumerateFiles(sourceDir, "*.cs", SearchOption.AllDirectories))
        {
            if (file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}")) continue;
            var lines = File.ReadAllLines(file);
            var ns = lines.Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("namespace ", StringComparison.Ordinal))?[10..].TrimEnd(';', ' ', '{');
            if (ns is null) continue;
            foreach (var line in lines.Select(l => l.Trim()).Where(l => l.StartsWith("using ", StringComparison.Ordinal) && l.EndsWith(';')))
            {
                var used = line[6..^1].Trim();
                if (used.StartsWith("static ", StringComparison.Ordinal) || used.Contains('=')) continue;
                Add(ns, used, () => $"{Path.GetRelativePath(sourceDir, file)}: {line}");
            }
        }
    }

    /// <summary>Adds an edge (used by the tests of this class to build a graph with a known cycle).</summary>
    public static NamespaceGraph FromEdges(string prefix, params (string From, string To)[] edges)
    {
        var graph = new NamespaceGraph(prefix);
        foreach (var (from, to) in edges) graph.Add(from, to, () => "given");
        return graph;
    }

    private void Add(string from, string to, Func<string> example)
    {
        if (from == to || !InScope(from) || !InScope(to)) return;
        if (!Edges.TryGetValue(from, out var targets)) Edges[from] = targets = new(StringComparer.Ordinal);
        targets.TryAdd(to, example());
    }

    private bool InScope(string ns) => ns == _prefix || ns.StartsWith(_prefix + ".", StringComparison.Ordinal);

    /// <summary>
    /// Every cycle as "A → B (example) → A (example)", one per strongly connected component of more than one
    /// namespace; empty when the graph is acyclic.
    /// </summary>
    public List<string> Cycles()
    {
        var nodes = Edges.Keys.Concat(Edges.Values.SelectMany(t => t.Keys)).Distinct().Order(StringComparer.Ordinal).ToList();
        var cycles = new List<string>();
        foreach (var component in StronglyConnected(nodes).Where(c => c.Count > 1))
        {
            var start = component.Min(StringComparer.Ordinal)!;
            var path = ShortestReturn(start, component);
            var text = start;
            for (var i = 1; i < path.Count; i++)
                text += $" → {path[i]} ({Edges[path[i - 1]][path[i]]})";
            cycles.Add(text);
        }
        return cycles;
    }

    private IEnumerable<string> Targets(string node)
        => Edges.TryGetValue(node, out var t) ? t.Keys.Order(StringComparer.Ordinal) : [];

    // Tarjan's algorithm; the graph has a dozen nodes, so recursion depth is no concern.
    private List<HashSet<string>> StronglyConnected(List<string> nodes)
    {
        var index = new Dictionary<string, int>();
        var low = new Dictionary<string, int>();
        var stack = new Stack<string>();
        var onStack = new HashSet<string>();
        var result = new List<HashSet<string>>();
        void Visit(string v)
        {
            index[v] = low[v] = index.Count;
            stack.Push(v);
            onStack.Add(v);
            foreach (var w in Targets(v))
            {
                if (!index.ContainsKey(w)) { Visit(w); low[v] = Math.Min(low[v], low[w]); }
                else if (onStack.Contains(w)) low[v] = Math.Min(low[v], index[w]);
            }
            if (low[v] != index[v]) return;
            var component = new HashSet<string>();
            string x;
            do { x = stack.Pop(); onStack.Remove(x); component.Add(x); } while (x != v);
            result.Add(component);
        }
        foreach (var n in nodes)
            if (!index.ContainsKey(n)) Visit(n);
        return result;
    }

    // Breadth-first within the component: the shortest path start → … → start.
    private List<string> ShortestReturn(string start, HashSet<string> component)
    {
        var parent = new Dictionary<string, string>();
        var queue = new Queue<string>([start]);
        while (queue.Count > 0)
        {
            var v = queue.Dequeue();
            foreach (var w in Targets(v).Where(component.Contains))
            {
                if (w == start)
                {
                    var path = new List<string> { start };
                    for (var x = v; x != start; x = parent[x]) path.Add(x);
                    path.Add(start);
                    path.Reverse();
                    return path;
                }
                if (parent.TryAdd(w, v)) queue.Enqueue(w);
            }
        }
        throw new InvalidOperationException($"no cycle through {start}");
    }

    private static (string Namespace, string Full) OutermostName(MetadataReader md, TypeDefinitionHandle handle)
    {
        var type = md.GetTypeDefinition(handle);
        while (type.GetDeclaringType() is { IsNil: false } outer) type = md.GetTypeDefinition(outer);
        var ns = md.GetString(type.Namespace);
        return (ns, $"{ns}.{md.GetString(type.Name)}");
    }

    private static HashSet<TypeDefinitionHandle> TypesUsedBy(MetadataReader md, PEReader pe, TypeDefinitionHandle handle)
    {
        var found = new HashSet<TypeDefinitionHandle>();
        var types = new TypeCollector(md, found);
        var type = md.GetTypeDefinition(handle);
        types.Entity(type.BaseType);
        foreach (var i in type.GetInterfaceImplementations()) types.Entity(md.GetInterfaceImplementation(i).Interface);
        types.GenericParameters(type.GetGenericParameters());
        types.Attributes(type.GetCustomAttributes());
        foreach (var f in type.GetFields())
        {
            var field = md.GetFieldDefinition(f);
            field.DecodeSignature(types, null);
            types.Attributes(field.GetCustomAttributes());
        }
        foreach (var p in type.GetProperties())
        {
            var property = md.GetPropertyDefinition(p);
            property.DecodeSignature(types, null);
            types.Attributes(property.GetCustomAttributes());
        }
        foreach (var e in type.GetEvents()) types.Entity(md.GetEventDefinition(e).Type);
        foreach (var m in type.GetMethods())
        {
            var method = md.GetMethodDefinition(m);
            method.DecodeSignature(types, null);
            types.Attributes(method.GetCustomAttributes());
            types.GenericParameters(method.GetGenericParameters());
            if (method.RelativeVirtualAddress == 0) continue;
            var body = pe.GetMethodBody(method.RelativeVirtualAddress);
            if (!body.LocalSignature.IsNil)
                md.GetStandaloneSignature(body.LocalSignature).DecodeLocalSignature(types, null);
            foreach (var region in body.ExceptionRegions) types.Entity(region.CatchType);
            Tokens(body.GetILReader(), types);
        }
        return found;
    }

    private static void Tokens(BlobReader il, TypeCollector types)
    {
        while (il.RemainingBytes > 0)
        {
            short code = il.ReadByte();
            if (code == 0xFE) code = (short)(0xFE00 | il.ReadByte());
            switch (OperandTypes[code])
            {
                case OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineSig
                    or OperandType.InlineTok or OperandType.InlineType:
                    types.Entity(MetadataTokens.EntityHandle(il.ReadInt32()));
                    break;
                case OperandType.InlineNone: break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar: il.Offset += 1; break;
                case OperandType.InlineVar: il.Offset += 2; break;
                case OperandType.InlineI8 or OperandType.InlineR: il.Offset += 8; break;
                case OperandType.InlineSwitch: var targets = il.ReadInt32(); il.Offset += 4 * targets; break;
                default: il.Offset += 4; break; // InlineBrTarget, InlineI, ShortInlineR, InlineString
            }
        }
    }

    /// <summary>Decodes signatures and resolves entity handles, collecting the type definitions they name.</summary>
    private sealed class TypeCollector(MetadataReader md, HashSet<TypeDefinitionHandle> found) : ISignatureTypeProvider<int, object?>
    {
        public void Entity(EntityHandle handle)
        {
            if (handle.IsNil) return;
            switch (handle.Kind)
            {
                case HandleKind.TypeDefinition: found.Add((TypeDefinitionHandle)handle); break;
                case HandleKind.TypeSpecification: md.GetTypeSpecification((TypeSpecificationHandle)handle).DecodeSignature(this, null); break;
                case HandleKind.MethodDefinition: found.Add(md.GetMethodDefinition((MethodDefinitionHandle)handle).GetDeclaringType()); break;
                case HandleKind.FieldDefinition: found.Add(md.GetFieldDefinition((FieldDefinitionHandle)handle).GetDeclaringType()); break;
                case HandleKind.MemberReference:
                    var member = md.GetMemberReference((MemberReferenceHandle)handle);
                    Entity(member.Parent);
                    if (member.GetKind() == MemberReferenceKind.Method) member.DecodeMethodSignature(this, null);
                    else member.DecodeFieldSignature(this, null);
                    break;
                case HandleKind.MethodSpecification:
                    var spec = md.GetMethodSpecification((MethodSpecificationHandle)handle);
                    Entity(spec.Method);
                    spec.DecodeSignature(this, null);
                    break;
                case HandleKind.StandaloneSignature:
                    var sig = md.GetStandaloneSignature((StandaloneSignatureHandle)handle);
                    if (sig.GetKind() == StandaloneSignatureKind.Method) sig.DecodeMethodSignature(this, null);
                    break;
            }
        }

        public void Attributes(CustomAttributeHandleCollection attributes)
        {
            foreach (var a in attributes) Entity(md.GetCustomAttribute(a).Constructor);
        }

        public void GenericParameters(GenericParameterHandleCollection parameters)
        {
            foreach (var p in parameters)
                foreach (var c in md.GetGenericParameter(p).GetConstraints())
                    Entity(md.GetGenericParameterConstraint(c).Type);
        }

        public int GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind)
        {
            found.Add(handle);
            return 0;
        }

        public int GetTypeFromSpecification(MetadataReader reader, object? context, TypeSpecificationHandle handle, byte rawTypeKind)
            => reader.GetTypeSpecification(handle).DecodeSignature(this, context);

        public int GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => 0;
        public int GetArrayType(int elementType, ArrayShape shape) => 0;
        public int GetByReferenceType(int elementType) => 0;
        public int GetPointerType(int elementType) => 0;
        public int GetPinnedType(int elementType) => 0;
        public int GetSZArrayType(int elementType) => 0;
        public int GetGenericInstantiation(int genericType, System.Collections.Immutable.ImmutableArray<int> typeArguments) => 0;
        public int GetFunctionPointerType(MethodSignature<int> signature) => 0;
        public int GetGenericMethodParameter(object? genericContext, int index) => 0;
        public int GetGenericTypeParameter(object? genericContext, int index) => 0;
        public int GetModifiedType(int modifier, int unmodifiedType, bool isRequired) => 0;
        public int GetPrimitiveType(PrimitiveTypeCode typeCode) => 0;
    }
}
