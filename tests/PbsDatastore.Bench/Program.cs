using System.Diagnostics;
using System.Reflection;

namespace PbsDatastore.Bench;

/// <summary>One benchmark: measures the module's figure and, in the same run, the floor it is compared with.</summary>
public interface IBenchmark
{
    string Name { get; }
    /// <summary>Runs and returns the rows to print (figure beside floor, and their ratio).</summary>
    IEnumerable<BenchRow> Run(BenchContext context);
}

public sealed record BenchRow(string Benchmark, string Metric, double Value, string Unit, double Floor, string FloorLabel)
{
    /// <summary>How the figure compares with its floor (for times: value/floor; for rates: floor/value).</summary>
    public double Ratio { get; init; } = Floor == 0 ? double.NaN : Value / Floor;
}

public sealed class BenchContext
{
    public required string RepoRoot { get; init; }
    public required string WorkDir { get; init; }
    public string[] Filter { get; init; } = [];

    public static TimeSpan Time(Action action)
    {
        var sw = Stopwatch.StartNew();
        action();
        return sw.Elapsed;
    }
}

public static class Program
{
    private static void Print(BenchRow row)
        => Console.WriteLine($"{row.Benchmark,-22} {row.Metric,-34} {row.Value,12:F2} {row.Unit,-8} {row.Floor,12:F2}  {row.Ratio,7:F2}  {row.FloorLabel}");

    public static int Main(string[] args)
    {
        if (args is [GarbageCollectionBench.PeakRssArgument, var store]) return GarbageCollectionBench.PeakRssChild(store);
        if (args is [ScaleBenchmark.ChildArgument, var op, var scaleStore]) return ScaleBenchmark.RunChild(op, scaleStore);
        if (args is [ScaleBenchmark.ChildArgument, var limitedOp, var limitedStore, var limit])
            return ScaleBenchmark.RunChild(limitedOp, limitedStore, long.Parse(limit, System.Globalization.CultureInfo.InvariantCulture));
        if (args is [ScaleBenchmark.BuildArgument, var buildStore, var groups])
        {
            ScaleBenchmark.Build(buildStore, int.Parse(groups, System.Globalization.CultureInfo.InvariantCulture));
            return 0;
        }
        var scale = args.Contains(ScaleBenchmark.Argument);
        args = args.Where(a => a != ScaleBenchmark.Argument).ToArray();
        var repoRoot = args.Length > 0 ? args[0] : Directory.GetCurrentDirectory();
        var filter = args.Skip(1).ToArray();
        var work = Directory.CreateTempSubdirectory("pbs-bench-").FullName;
        try
        {
            var context = new BenchContext { RepoRoot = repoRoot, WorkDir = work, Filter = filter };
            var benchmarks = Assembly.GetExecutingAssembly().GetTypes()
                .Where(t => typeof(IBenchmark).IsAssignableFrom(t) && !t.IsAbstract && !t.IsInterface)
                .Select(t => (IBenchmark)Activator.CreateInstance(t)!)
                .Where(b => !scale && (filter.Length == 0 || filter.Any(f => b.Name.Contains(f, StringComparison.OrdinalIgnoreCase))))
                .OrderBy(b => b.Name)
                .ToList();
            Console.WriteLine($"{"benchmark",-22} {"metric",-34} {"value",12} {"unit",-8} {"floor",12}  {"ratio",7}  floor is");
            foreach (var benchmark in benchmarks)
            {
                foreach (var row in benchmark.Run(context))
                    Print(row);
            }
            // Opt-in: builds stores of millions of chunks and takes many minutes.
            if (scale)
                ScaleBenchmark.Run(context, Print);
            else if (benchmarks.Count == 0) Console.WriteLine("no benchmarks matched");
            return 0;
        }
        finally
        {
            try { Directory.Delete(work, true); } catch (IOException) { }
        }
    }
}
