using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Format;
using EdgeTvq.Merging;

namespace EdgeTvq.Bench;

/// <summary>
/// The device path's load + merge, measured: an RTVQ B3O2 bundle of 20 tasks on the ViT-B/32 tensor set (synthetic
/// values), pretrained weights in a memory-mapped .safetensors. Each scenario runs in a fresh child process so that
/// its peak RSS is its own: merge 1 task (individual), 8 and 20 tasks (task arithmetic) streaming from storage, and a
/// task switch with the merge cache warm. Throughput is reported against a memory copy of the same size measured in
/// the same process.
/// </summary>
internal static class MergeBenchmark
{
    private const int Tasks = 20;

    /// <summary>
    /// The benchmark bundle (RTVQ B3O2, 20 synthetic tasks on the ViT-B/32 tensor set) and its pretrained weights as
    /// .safetensors, under the temp folder; packed once, reused by later runs and by the serve benchmark.
    /// </summary>
    public static (string Bundle, string Pretrained) EnsureBundle()
    {
        string work = Path.Combine(Path.GetTempPath(), "edgetvq-merge-bench");
        string bundle = Path.Combine(work, "bundle"), pretrained = Path.Combine(work, "pretrained.safetensors");
        var shapes = VitB32Shapes.Visual();
        if (!File.Exists(Path.Combine(bundle, FormatConstants.ManifestFileName)))
        {
            if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
            Directory.CreateDirectory(work);
            Console.WriteLine($"packing {Tasks} synthetic ViT-B/32 tasks as RTVQ B3O2 into {bundle} (once; reused by later runs)…");
            var pre = new SyntheticSource("pretrained", shapes, -1);
            SafetensorsWriter.WriteFloat32(pretrained, shapes.Select(s =>
            {
                var v = new float[s.Shape.Aggregate(1L, (a, b) => a * b)];
                pre.ReadFloat32(s.Name, v);
                return (s.Name, s.Shape, v);
            }));
            var tasks = Enumerable.Range(0, Tasks).Select(t => new PackTask($"task{t:D2}", new SyntheticSource($"task{t}", shapes, t))).ToList();
            BundlePacker.Pack(pre, tasks, new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 }, bundle);
        }
        return (bundle, pretrained);
    }

    public static int Run(string[] args)
    {
        int threads = ParseThreads(args);
        var (bundle, pretrained) = EnsureBundle();
        long bundleBytes = Directory.EnumerateFiles(bundle).Sum(f => new FileInfo(f).Length);
        Console.WriteLine($"bundle {bundleBytes / 1e6:F1} MB, {Tasks} tasks; machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription.Trim()}, {RuntimeInformation.ProcessArchitecture}");
        // --general adds the general streaming path's methods (docs/merging.md) on 8 tasks, beside task arithmetic on 8;
        // --tsv the TSV methods on 8 tasks (an SVD per matrix and task: tens of minutes, docs/merging.md).
        if (args.Contains("--tsv")) return RunTable(bundle, pretrained, ["tsv_compress:8", "tsv_merge:8"], threads);
        if (args.Contains("--general")) return RunTable(bundle, pretrained, ["ta:8", "magmax:8", "consensus:8", "ties:8", "emr:8"], threads);
        return MergeComparison.Run(bundle, pretrained, threads);
    }

    /// <summary><c>--threads N</c> or <c>--threads=N</c>; 0 (every core) when absent.</summary>
    public static int ParseThreads(string[] args)
    {
        for (int i = 0; i < args.Length; i++)
        {
            string? text = args[i] == "--threads" && i + 1 < args.Length ? args[i + 1]
                : args[i].StartsWith("--threads=", StringComparison.Ordinal) ? args[i]["--threads=".Length..] : null;
            if (text is null) continue;
            if (!int.TryParse(text, out int n) || n < 0) throw new ArgumentException($"--threads needs a count of threads, not '{text}'");
            return n;
        }
        return 0;
    }

    /// <summary>
    /// The one place the benchmark calls the device merge, from storage or with a <see cref="MergeCache"/>.
    /// <paramref name="threads"/>: cores the fused merge spreads its blocks over (0 = every core).
    /// </summary>
    public static MergeResult DeviceMerge(string bundle, BundleManifest m, ITensorSource pretrained, MergeRecipe recipe, int threads, WeightSet? reuse = null)
    {
        return pretrained is MergeCache cache
            ? BundleMerger.Merge(bundle, m, cache, recipe, reuse: reuse, threads: threads)
            : BundleMerger.Merge(bundle, m, pretrained, recipe, threads: threads);
    }

    /// <summary>The former table, kept for --general and --tsv: one row per scenario, each in its own process.</summary>
    private static int RunTable(string bundle, string pretrained, string[] scenarios, int threads)
    {
        Console.WriteLine("memcpy: a copy of the merged weights' size between buffers already in memory, in the same process (best of 3);");
        Console.WriteLine("fresh: allocate a new buffer of that size and copy into it, which adds the first touch of every page.");
        Console.WriteLine($"{"scenario",-34} {"time (s)",9} {"weights GB/s",13} {"memcpy GB/s",12} {"÷ memcpy",9} {"fresh GB/s",11} {"÷ fresh",8} {"files read MB",14} {"peak RSS MiB",13}");
        foreach (var scenario in scenarios)
        {
            var (code, output) = RunChild(["merge-child", bundle, pretrained, scenario, "--threads", threads.ToString(CultureInfo.InvariantCulture)]);
            Console.WriteLine(output.TrimEnd());
            if (code != 0) return code;
        }
        return 0;
    }

    /// <summary>Runs this benchmark binary again with <paramref name="args"/>; returns its exit code and standard output.</summary>
    public static (int ExitCode, string Output) RunChild(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet") psi.ArgumentList.Add(typeof(MergeBenchmark).Assembly.Location);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["ORT_DISABLE_TELEMETRY"] = "1";
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output);
    }

    /// <summary>One scenario in its own process: prints one table row.</summary>
    public static int Child(string bundle, string pretrainedPath, string scenario, string[] options)
    {
        int threads = ParseThreads(options);
        var (kind, countText) = (scenario.Split(':')[0], scenario.Split(':')[1]);
        int count = int.Parse(countText);
        var m = ManifestIO.Load(bundle);
        var names = m.Tasks.Take(count).Select(t => t.Name).ToList();
        long weightBytes = 4 * m.Pretrained.ParameterCount;
        double memcpy = MemcpyGBps(weightBytes, fresh: false), fresh = MemcpyGBps(weightBytes, fresh: true);

        using var pretrained = new CheckpointTensorSource(pretrainedPath);
        var sw = Stopwatch.StartNew();
        long readBytes;
        string label;
        if (kind == "switch")
        {
            using var cache = new MergeCache(pretrained, m);
            var first = DeviceMerge(bundle, m, cache, MergeRecipe.Individual(names[0]), threads); // warm: θ_pre and dq(base) cached
            foreach (var own in first.OwnTensors.Values) own.Dispose();
            sw.Restart();
            using var merged = DeviceMerge(bundle, m, cache, MergeRecipe.Individual(m.Tasks[1].Name), threads, reuse: first.Weights); // refills the retired weights
            readBytes = m.Tasks[1].Bytes;
            label = "switch individual (cache, refill)";
        }
        else if (kind is "individual" or "ta")
        {
            var recipe = kind == "individual" ? MergeRecipe.Individual(names[0]) : MergeRecipe.TaskArithmetic(names);
            using var merged = DeviceMerge(bundle, m, pretrained, recipe, threads);
            readBytes = m.Base!.Bytes + m.Tasks.Take(count).Sum(t => t.Bytes) + weightBytes;
            label = kind == "individual" ? "load + merge, individual (1 task)" : $"load + merge, task arithmetic ({count})";
        }
        else
        {
            // The general streaming path, no cache (as the fused scenarios): every pass re-reads the base and task files.
            var method = MergeRecipe.ParseMethod(kind) ?? throw new ArgumentException($"unknown scenario '{scenario}'");
            var recipe = MergeRecipe.Of(method, names, names[0]);
            using var merged = DeviceMerge(bundle, m, pretrained, recipe, threads);
            int passes = EdgeTvq.Merging.Streaming.StreamingMethod.Create(recipe, names).StatisticPasses + 1;
            readBytes = passes * (m.Base!.Bytes + m.Tasks.Take(count).Sum(t => t.Bytes)) + weightBytes;
            label = $"load + merge, {MergeRecipe.NameOf(method)} ({count}, {passes} pass{(passes > 1 ? "es" : "")})";
        }
        double seconds = sw.Elapsed.TotalSeconds;
        double gbps = weightBytes / seconds / 1e9;
        Console.WriteLine($"{label,-34} {seconds,9:F3} {gbps,13:F2} {memcpy,12:F2} {gbps / memcpy,9:F3} {fresh,11:F2} {gbps / fresh,8:F3} {readBytes / 1e6,14:F1} {PeakRssMiB(),13:F0}");
        return 0;
    }

    /// <summary>
    /// Copy throughput for a buffer the size of the merged weights, in this process: between two buffers already
    /// touched (best of 3), or (<paramref name="fresh"/>) into a newly allocated buffer, first touch included.
    /// </summary>
    public static unsafe double MemcpyGBps(long bytes, bool fresh)
    {
        var src = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        try
        {
            new Span<byte>(src, (int)Math.Min(bytes, int.MaxValue)).Fill(1);
            double best = double.MaxValue;
            var dst = fresh ? null : (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
            if (!fresh) new Span<byte>(dst, (int)Math.Min(bytes, int.MaxValue)).Clear();
            for (int r = 0; r < (fresh ? 1 : 3); r++)
            {
                var sw = Stopwatch.StartNew();
                if (fresh) dst = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
                Buffer.MemoryCopy(src, dst, bytes, bytes);
                best = Math.Min(best, sw.Elapsed.TotalSeconds);
            }
            NativeMemory.AlignedFree(dst);
            return bytes / best / 1e9;
        }
        finally
        {
            NativeMemory.AlignedFree(src);
        }
    }

    /// <summary>VmHWM from /proc/self/status (peak resident set), in MiB.</summary>
    public static double PeakRssMiB()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0;
        return Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024);
    }
}
