using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests;

/// <summary>
/// The core's namespaces are layers: each may use those below it, never one that uses it back (README's table).
/// A cycle means two namespaces can only be understood, changed and tested together.
/// </summary>
public class NamespaceDependencyTests
{
    private const string Core = "PbsDatastore.Core";

    private static NamespaceGraph CoreGraph()
    {
        var graph = NamespaceGraph.Of(typeof(PbsException).Assembly, Core);
        graph.AddUsings(Path.Combine(RepoRoot(), "src", Core));
        return graph;
    }

    [Fact]
    public void CoreNamespacesHaveNoCycle()
    {
        var cycles = CoreGraph().Cycles();
        Assert.True(cycles.Count == 0, "namespace cycles in the core:\n" + string.Join("\n", cycles));
    }

    [Fact]
    public void GraphSeesDependenciesOfEveryKind()
    {
        var edges = CoreGraph().Edges;
        bool Uses(string from, string to) => edges.TryGetValue($"{Core}.{from}", out var t) && t.ContainsKey($"{Core}.{to}");
        Assert.True(Uses("Hierarchy", "Store"), "Datastore's backend field and lease (signatures, IL)");
        Assert.True(Uses("Maintenance", "Hierarchy"), "jobs take a Datastore (method signatures)");
        Assert.True(Uses("S3", "Store"), "S3Backend implements IDatastoreBackend (interfaces)");
        Assert.True(Uses("Store", "Formats"), "ChunkDigest in the backend's signatures");
        Assert.True(Uses("Backup", "Formats"), "ingest writes indexes (IL)");
        Assert.False(Uses("Formats", "Maintenance"));
    }

    [Fact]
    public void CyclesAreFoundAndNamed()
    {
        var graph = NamespaceGraph.FromEdges(Core,
            ($"{Core}.A", $"{Core}.B"), ($"{Core}.B", $"{Core}.C"), ($"{Core}.C", $"{Core}.A"),
            ($"{Core}.C", $"{Core}.D"), ($"{Core}.D", "System.IO"), ($"{Core}.E", $"{Core}.F"), ($"{Core}.F", $"{Core}.E"));
        var cycles = graph.Cycles();
        Assert.Equal(2, cycles.Count);
        Assert.Contains($"{Core}.A → {Core}.B (given) → {Core}.C (given) → {Core}.A (given)", cycles);
        Assert.Contains($"{Core}.E → {Core}.F (given) → {Core}.E (given)", cycles);
        Assert.Empty(NamespaceGraph.FromEdges(Core, ($"{Core}.A", $"{Core}.B"), ($"{Core}.B", $"{Core}.C")).Cycles());
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "PbsDatastore.slnx"))) return dir.FullName;
        throw new InvalidOperationException($"no PbsDatastore.slnx above {AppContext.BaseDirectory}");
    }
}
