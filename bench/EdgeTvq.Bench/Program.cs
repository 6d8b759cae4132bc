namespace EdgeTvq.Bench;

/// <summary><c>edgetvq-bench</c>: benchmarks that measure, never assert timings inside tests.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        string which = args.FirstOrDefault() ?? "";
        switch (which)
        {
            case "storage":
                return StorageBenchmark.Run(args[1..]);
            case "kernel":
                return KernelBenchmark.Run();
            case "merge":
                return MergeBenchmark.Run(args[1..]);
            case "serve":
                return ServeBenchmark.Run(args[1..]);
            case "merge-child":
                return MergeBenchmark.Child(args[1], args[2], args[3], args[4..]);
            case "compare-child":
                return MergeComparison.Child(args[1..]);
            default:
                Console.Error.WriteLine("usage: edgetvq-bench storage [--policy=all] [--threads=N] | merge [--general|--tsv] [--threads N] | kernel | serve");
                return 2;
        }
    }
}
