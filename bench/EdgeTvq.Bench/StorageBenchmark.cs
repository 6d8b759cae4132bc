using System.Diagnostics;
using EdgeTvq.Bundle;
using EdgeTvq.Format;

namespace EdgeTvq.Bench;

/// <summary>
/// Storage of an RTVQ B3O2 bundle of 8 tasks on a ViT-B/32-shaped tensor set (synthetic values): the bytes of all
/// quantized-tensor records (base + every task file) must be within 1% + 64 KiB of the paper's accounting,
/// (b_o + b_b/T) bits per quantized parameter per task. Prints the check and exits non-zero when it fails.
/// </summary>
internal static class StorageBenchmark
{
    public static int Run(string[] args)
    {
        int tasks = 8, baseBits = 3, offsetBits = 2;
        string outDir = Path.Combine(Path.GetTempPath(), "edgetvq-storage-bench-" + Environment.ProcessId);
        var shapes = VitB32Shapes.Visual();
        var pre = new SyntheticSource("vit-b32-pretrained (synthetic)", shapes, -1);
        var sources = Enumerable.Range(0, tasks).Select(t => new PackTask($"task{t}", new SyntheticSource($"task{t} (synthetic)", shapes, t))).ToList();
        int threads = args.FirstOrDefault(a => a.StartsWith("--threads=", StringComparison.Ordinal)) is { } t ? int.Parse(t["--threads=".Length..]) : 0;
        var options = new PackOptions { Scheme = Scheme.Rtvq, BaseBits = baseBits, OffsetBits = offsetBits, Policy = TensorPolicy.Parse(args.Contains("--policy=all") ? "all" : "default"), Threads = threads };

        Console.WriteLine($"ViT-B/32 image encoder tensor set: {shapes.Count} tensors, {shapes.Sum(s => s.Shape.Aggregate(1L, (a, b) => a * b)):N0} parameters; {tasks} tasks; RTVQ B{baseBits}O{offsetBits}; policy {options.Policy.Name}");
        var sw = Stopwatch.StartNew();
        try
        {
            BundlePacker.Pack(pre, sources, options, outDir);
            double packSeconds = sw.Elapsed.TotalSeconds;
            var report = BundleInspector.Inspect(outDir);
            long pq = report.QuantizedParameters;
            double theoryBytes = (offsetBits * (double)tasks + baseBits) * pq / 8;
            double measuredBytes = report.StoredBitsPerQuantizedParameter * tasks * pq / 8;
            double allowed = theoryBytes * 0.01 + 64 * 1024;
            bool ok = Math.Abs(measuredBytes - theoryBytes) <= allowed;

            Console.WriteLine($"quantized parameters            {pq:N0} of {report.Parameters:N0}");
            Console.WriteLine($"paper accounting                {report.PaperBitsPerParameter:F4} bits/param/task -> {theoryBytes:N0} bytes for {tasks} tasks");
            Console.WriteLine($"stored quantized records        {report.StoredBitsPerQuantizedParameter:F4} bits/param/task -> {measuredBytes:N0} bytes ({(measuredBytes - theoryBytes) / theoryBytes * 100:+0.000;-0.000}%, {measuredBytes - theoryBytes:N0} bytes over)");
            Console.WriteLine($"tolerance                       1% + 64 KiB = {allowed:N0} bytes -> {(ok ? "PASS" : "FAIL")}");
            Console.WriteLine($"whole bundle on disk            {report.TotalBytes:N0} bytes (incl. float32 biases/norms/embeddings: {report.TotalBytes - measuredBytes:N0}); as float32 task vectors {report.Float32Bytes:N0} bytes ({100.0 * report.TotalBytes / report.Float32Bytes:F2}%)");
            Console.WriteLine($"pack time                       {packSeconds:F1} s with {(threads == 0 ? Environment.ProcessorCount : threads)} thread(s); peak RSS {Process.GetCurrentProcess().PeakWorkingSet64 / (1 << 20):N0} MiB");
            return ok ? 0 : 1;
        }
        finally
        {
            if (Directory.Exists(outDir)) Directory.Delete(outDir, recursive: true);
        }
    }
}
