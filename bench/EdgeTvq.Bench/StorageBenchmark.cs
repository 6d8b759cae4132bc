using System.Diagnostics;
using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Format;

namespace EdgeTvq.Bench;

/// <summary>
/// Storage of an RTVQ B3O2 bundle of 8 tasks on a ViT-B/32-shaped tensor set (synthetic values): the bytes of all
/// quantized-tensor records (base + every task file) must be within 1% + 64 KiB of the paper's accounting,
/// (b_o + b_b/T) bits per quantized parameter per task. Prints the check and exits non-zero when it fails.
/// <para>
/// The pack speed is measured as the packer sees real checkpoints: the pretrained model and the 8 tasks are written
/// once as float32 .safetensors under the temp folder (reused by later runs) and packed from those files. The same run
/// times a plain read of the same files from the page cache and prints pack time ÷ read time. <c>--synthetic</c> packs
/// from values generated on the fly instead (that generation then dominates the time).
/// </para>
/// </summary>
internal static class StorageBenchmark
{
    private const int Tasks = 8;

    public static int Run(string[] args)
    {
        int baseBits = 3, offsetBits = 2;
        string outDir = Path.Combine(Path.GetTempPath(), "edgetvq-storage-bench-" + Environment.ProcessId);
        var shapes = VitB32Shapes.Visual();
        int threads = args.FirstOrDefault(a => a.StartsWith("--threads=", StringComparison.Ordinal)) is { } t ? int.Parse(t["--threads=".Length..]) : 0;
        bool synthetic = args.Contains("--synthetic");
        var options = new PackOptions { Scheme = Scheme.Rtvq, BaseBits = baseBits, OffsetBits = offsetBits, Policy = TensorPolicy.Parse(args.Contains("--policy=all") ? "all" : "default"), Threads = threads };

        Console.WriteLine($"ViT-B/32 image encoder tensor set: {shapes.Count} tensors, {shapes.Sum(s => s.Shape.Aggregate(1L, (a, b) => a * b)):N0} parameters; {Tasks} tasks; RTVQ B{baseBits}O{offsetBits}; policy {options.Policy.Name}");
        ITensorSource pre;
        List<PackTask> sources;
        var opened = new List<CheckpointTensorSource>();
        double readSeconds = 0;
        long inputBytes = 0;
        if (synthetic)
        {
            pre = new SyntheticSource("vit-b32-pretrained (synthetic)", shapes, -1);
            sources = Enumerable.Range(0, Tasks).Select(i => new PackTask($"task{i}", new SyntheticSource($"task{i} (synthetic)", shapes, i))).ToList();
        }
        else
        {
            var files = EnsureInputs(shapes);
            inputBytes = files.Sum(f => new FileInfo(f).Length);
            readSeconds = ReadAll(files); // warms the page cache
            readSeconds = Math.Min(readSeconds, ReadAll(files));
            Console.WriteLine($"inputs                          {files.Count} float32 .safetensors, {inputBytes / 1e6:N0} MB under {Path.GetDirectoryName(files[0])}");
            Console.WriteLine($"plain read of the inputs        {readSeconds:F2} s ({inputBytes / readSeconds / 1e9:F2} GB/s, page cache, 1 thread, best of 2)");
            var p = new CheckpointTensorSource(files[0]);
            opened.Add(p);
            pre = p;
            sources = [];
            for (int i = 0; i < Tasks; i++)
            {
                var s = new CheckpointTensorSource(files[i + 1]);
                opened.Add(s);
                sources.Add(new PackTask($"task{i}", s));
            }
        }

        using var rss = new RssSampler();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        try
        {
            BundlePacker.Pack(pre, sources, options, outDir);
            double packSeconds = sw.Elapsed.TotalSeconds;
            double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
            rss.Stop();
            var report = BundleInspector.Inspect(outDir);
            long pq = report.QuantizedParameters;
            double theoryBytes = (offsetBits * (double)Tasks + baseBits) * pq / 8;
            double measuredBytes = report.StoredBitsPerQuantizedParameter * Tasks * pq / 8;
            double allowed = theoryBytes * 0.01 + 64 * 1024;
            bool ok = Math.Abs(measuredBytes - theoryBytes) <= allowed;

            Console.WriteLine($"quantized parameters            {pq:N0} of {report.Parameters:N0}");
            Console.WriteLine($"paper accounting                {report.PaperBitsPerParameter:F4} bits/param/task -> {theoryBytes:N0} bytes for {Tasks} tasks");
            Console.WriteLine($"stored quantized records        {report.StoredBitsPerQuantizedParameter:F4} bits/param/task -> {measuredBytes:N0} bytes ({(measuredBytes - theoryBytes) / theoryBytes * 100:+0.000;-0.000}%, {measuredBytes - theoryBytes:N0} bytes over)");
            Console.WriteLine($"tolerance                       1% + 64 KiB = {allowed:N0} bytes -> {(ok ? "PASS" : "FAIL")}");
            Console.WriteLine($"whole bundle on disk            {report.TotalBytes:N0} bytes (incl. float32 biases/norms/embeddings: {report.TotalBytes - measuredBytes:N0}); as float32 task vectors {report.Float32Bytes:N0} bytes ({100.0 * report.TotalBytes / report.Float32Bytes:F2}%)");
            Console.WriteLine($"pack time                       {packSeconds:F2} s with {(threads == 0 ? Environment.ProcessorCount : threads)} thread(s), {cpuSeconds:F2} s of CPU (a busy machine shows as CPU ÷ time well under the thread count); peak RSS {Process.GetCurrentProcess().PeakWorkingSet64 / (1 << 20):N0} MiB (anonymous memory at most {rss.PeakAnonymous / (1 << 20):N0} MiB while packing)");
            if (!synthetic)
                Console.WriteLine($"pack ÷ read                     {packSeconds / readSeconds:F2} (pack reads its inputs at {inputBytes / packSeconds / 1e9:F2} GB/s = {readSeconds / packSeconds:F2}× the plain read)");
            return ok ? 0 : 1;
        }
        finally
        {
            foreach (var s in opened) s.Dispose();
            if (Directory.Exists(outDir)) Directory.Delete(outDir, recursive: true);
        }
    }

    /// <summary>The pretrained model and the tasks as .safetensors under the temp folder, written once (pretrained first).</summary>
    private static List<string> EnsureInputs(List<(string Name, long[] Shape)> shapes)
    {
        string dir = Path.Combine(Path.GetTempPath(), "edgetvq-storage-inputs");
        var files = new List<string> { Path.Combine(dir, "pretrained.safetensors") };
        files.AddRange(Enumerable.Range(0, Tasks).Select(i => Path.Combine(dir, $"task{i}.safetensors")));
        string done = Path.Combine(dir, "complete");
        if (File.Exists(done)) return files;
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        Directory.CreateDirectory(dir);
        Console.WriteLine($"writing the synthetic inputs to {dir} (once; reused by later runs)…");
        Parallel.For(-1, Tasks, new ParallelOptions { MaxDegreeOfParallelism = 2 }, task =>
        {
            var source = new SyntheticSource(task < 0 ? "pretrained" : $"task{task}", shapes, task);
            SafetensorsWriter.WriteFloat32(files[task + 1], shapes.Select(s =>
            {
                var v = new float[s.Shape.Aggregate(1L, (a, b) => a * b)];
                source.ReadFloat32(s.Name, v);
                return (s.Name, s.Shape, v);
            }));
        });
        File.WriteAllText(done, "");
        return files;
    }

    /// <summary>Seconds to read every byte of <paramref name="files"/> into one reused 1 MiB buffer.</summary>
    private static double ReadAll(List<string> files)
    {
        var buffer = new byte[1 << 20];
        var sw = Stopwatch.StartNew();
        foreach (var f in files)
        {
            using var s = new FileStream(f, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
            while (s.Read(buffer) > 0) { }
        }
        return sw.Elapsed.TotalSeconds;
    }

    /// <summary>Samples RssAnon of /proc/self/status every 20 ms: peak RSS also counts page-cache pages of mapped files.</summary>
    private sealed class RssSampler : IDisposable
    {
        private readonly Thread _thread;
        private volatile bool _stop;
        public long PeakAnonymous { get; private set; }

        public RssSampler()
        {
            _thread = new Thread(() =>
            {
                while (!_stop)
                {
                    Sample();
                    Thread.Sleep(20);
                }
            }) { IsBackground = true };
            _thread.Start();
        }

        private void Sample()
        {
            if (!OperatingSystem.IsLinux()) return;
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("RssAnon:", StringComparison.Ordinal))
                    PeakAnonymous = Math.Max(PeakAnonymous, long.Parse(line["RssAnon:".Length..].Trim().Split(' ')[0]) * 1024);
        }

        public void Stop()
        {
            _stop = true;
            _thread.Join();
            Sample();
        }

        public void Dispose()
        {
            if (!_stop) Stop();
        }
    }
}
