using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Merging;
using EdgeTvq.Runtime.Inference;
using Microsoft.ML.OnnxRuntime;

namespace EdgeTvq.Bench;

/// <summary>
/// <c>edgetvq-bench merge</c>: the comparison the device path is judged on, in one run, on the 20-task RTVQ B3O2
/// bundle of the ViT-B/32 tensor set (docs/performance.md):
/// <list type="number">
/// <item>ours: BundleMerger from storage (every checksum checked) for 1, 8 and 20 tasks, each in a fresh process:
/// time, minor page faults of the merge, peak RSS;</item>
/// <item>the paper authors' PyTorch merge on the same codes held in memory (torch_merge.py), with the largest
/// difference from our merged weights;</item>
/// <item>memory copies measured in the same processes: a warm copy of the merged weights, and the bytes the merge
/// moves (bundle files and θ_pre in, merged weights out) at that copy's rate;</item>
/// <item>a task switch: merge into the retired weights with the cache warm and bind them to a shared ONNX Runtime
/// session, against building a new InferenceSession from a model file of the same size, as users do today;</item>
/// <item>ratios against the targets.</item>
/// </list>
/// </summary>
internal static class MergeComparison
{
    private const double TorchTolerance = 1e-6;  // max |ours − PyTorch| that still counts as the same merge
    private const double SpeedupTarget = 20, MemcpyTarget = 4, SwitchTarget = 1.5, RssSlackMiB = 64;

    private sealed record Scenario(string Label, string Kind, int Tasks, float Lambda);

    public static int Run(string bundle, string pretrained, int threads)
    {
        string export = TorchExport.Ensure(bundle, pretrained);
        string model = EnsureModel(pretrained);
        var m = ManifestIO.Load(bundle);
        double weightMiB = 4.0 * m.Pretrained.ParameterCount / (1 << 20);
        double rssBudget = 2 * weightMiB + RssSlackMiB;
        int torchThreads = threads == 0 ? Environment.ProcessorCount : threads;
        Console.WriteLine($"threads: {(threads == 0 ? "every core" : threads.ToString(CultureInfo.InvariantCulture))} (ours: see MergeBenchmark.DeviceMerge; PyTorch: torch.set_num_threads({torchThreads}))");

        Scenario[] scenarios =
        [
            new("individual (1 task)", "individual", 1, 1f),
            new("task arithmetic, 8 tasks", "ta", 8, MergeRecipe.DefaultLambda),
            new("task arithmetic, 20 tasks", "ta", 20, MergeRecipe.DefaultLambda),
        ];
        // Both sides start with their inputs in memory: PyTorch loads them untimed; ours reads files the page cache holds.
        long warmed = Directory.EnumerateFiles(bundle).Append(pretrained).Sum(WarmPageCache);
        Console.WriteLine($"page cache warmed with the bundle and θ_pre ({warmed / 1e6:F0} MB); ours: the median of 3 fresh processes per scenario");
        var rows = new List<(Scenario S, JsonElement Ours, JsonElement Torch)>();
        foreach (var s in scenarios)
        {
            string oursFile = Path.Combine(export, $"ours-{s.Kind}{s.Tasks}.f32");
            var runs = new List<JsonElement>();
            for (int run = 0; run < 3; run++)
            {
                var one = RunMeasurement(["compare-child", "merge", bundle, pretrained, s.Kind, s.Tasks.ToString(CultureInfo.InvariantCulture), oursFile, "--threads", threads.ToString(CultureInfo.InvariantCulture)]);
                if (one is null) return 1;
                runs.Add(one.Value);
            }
            JsonElement? ours = runs.OrderBy(r => D(r, "seconds")).ElementAt(1);
            try
            {
                var torch = Torch(export, s, torchThreads, oursFile);
                if (torch is null) return 1;
                rows.Add((s, ours.Value, torch.Value));
            }
            finally { File.Delete(oursFile); }
        }
        var sw = RunMeasurement(["compare-child", "switch", bundle, pretrained, model, "--threads", threads.ToString(CultureInfo.InvariantCulture)]);
        var session = RunMeasurement(["compare-child", "session", model]);
        if (sw is null || session is null) return 1;

        Console.WriteLine();
        Console.WriteLine("1. merge from storage (ours: BundleMerger, fresh process, checksums verified) vs the authors' PyTorch merge on the same codes in memory");
        Console.WriteLine($"{"scenario",-26} {"ours s",8} {"minflt",9} {"peak RSS MiB",13} {"PyTorch s",10} {"minflt",9} {"peak RSS MiB",13} {"PyTorch ÷ ours",15} {"max |Δ|",10}");
        foreach (var (s, o, t) in rows)
            Console.WriteLine($"{s.Label,-26} {D(o, "seconds"),8:F3} {D(o, "minflt"),9:F0} {D(o, "peak_rss_mib"),13:F0} {D(t, "seconds"),10:F3} {D(t, "minflt"),9:F0} {D(t, "peak_rss_mib"),13:F0} {D(t, "seconds") / D(o, "seconds"),15:F1} {D(t, "max_abs_diff"),10:E1}");

        Console.WriteLine();
        Console.WriteLine("2. against memory copies measured in the same process: memcpy merged = a warm copy of the merged weights; moved = bundle files + θ_pre in, merged weights out,");
        Console.WriteLine($"   as a memcpy time at that copy's rate (a copy of S bytes moves 2·S); peak RSS against merged + θ_pre + {RssSlackMiB:F0} MiB = {rssBudget:F0} MiB");
        Console.WriteLine($"{"scenario",-26} {"ours s",8} {"memcpy merged s",16} {"moved MB",9} {"memcpy moved s",15} {"ours ÷ memcpy moved",20} {"peak RSS MiB",13} {"budget MiB",11}");
        var moved = new Dictionary<Scenario, double>();
        foreach (var (s, o, _) in rows)
        {
            double weightBytes = D(o, "weight_bytes"), movedBytes = D(o, "file_bytes") + 2 * weightBytes;
            double movedSeconds = movedBytes / (2 * weightBytes / D(o, "copy_seconds"));
            moved[s] = D(o, "seconds") / movedSeconds;
            Console.WriteLine($"{s.Label,-26} {D(o, "seconds"),8:F3} {D(o, "copy_seconds"),16:F4} {movedBytes / 1e6,9:F0} {movedSeconds,15:F4} {moved[s],20:F1} {D(o, "peak_rss_mib"),13:F0} {rssBudget,11:F0}");
        }

        double switchSeconds = D(sw.Value, "merge_seconds") + D(sw.Value, "bind_seconds");
        double write = D(sw.Value, "fill_seconds");
        Console.WriteLine();
        Console.WriteLine("3. task switch (median of 3): ours = merge into the retired weights (cache warm: θ_pre and dq(base) in memory) + bind to the shared ONNX Runtime session;");
        Console.WriteLine("   users today = a new InferenceSession from the task's own ONNX file of the same size (weights as initializers, file warm in the page cache)");
        Console.WriteLine($"{"merge ms",9} {"bind ms",8} {"switch ms",10} {"minflt",9} {"one full write ms",18} {"switch ÷ write",15} {"new session ms",15} {"new session ÷ switch",21}");
        Console.WriteLine($"{D(sw.Value, "merge_seconds") * 1e3,9:F1} {D(sw.Value, "bind_seconds") * 1e3,8:F2} {switchSeconds * 1e3,10:F1} {D(sw.Value, "minflt"),9:F0} {write * 1e3,18:F1} {switchSeconds / write,15:F2} {D(session.Value, "seconds") * 1e3,15:F0} {D(session.Value, "seconds") / switchSeconds,21:F1}");

        var ta8 = rows.Single(r => r.S.Tasks == 8);
        double speedup = D(ta8.Torch, "seconds") / D(ta8.Ours, "seconds");
        double maxDiff = rows.Max(r => D(r.Torch, "max_abs_diff"));
        double rssMin = rows.Min(r => D(r.Ours, "peak_rss_mib")), rssMax = rows.Max(r => D(r.Ours, "peak_rss_mib"));
        Console.WriteLine();
        Console.WriteLine("targets");
        Target($"same merge as PyTorch: max |Δ| {maxDiff:E1} ≤ {TorchTolerance:E0} (all scenarios)", maxDiff <= TorchTolerance);
        Target($"8-task TA: PyTorch ÷ ours = {speedup:F1}× ≥ {SpeedupTarget:F0}×", speedup >= SpeedupTarget);
        Target($"ours ÷ memcpy of moved bytes ≤ {MemcpyTarget:F0}×: {string.Join(", ", rows.Select(r => $"{r.S.Tasks} task{(r.S.Tasks > 1 ? "s" : "")} {moved[r.S]:F1}×"))}", moved.Values.All(v => v <= MemcpyTarget));
        Target($"switch ÷ one full write of the merged weights = {switchSeconds / write:F2}× ≤ {SwitchTarget:F1}×", switchSeconds / write <= SwitchTarget);
        Target($"peak RSS ≤ merged + θ_pre + {RssSlackMiB:F0} MiB = {rssBudget:F0} MiB for 1, 8 and 20 tasks: {rssMin:F0}–{rssMax:F0} MiB", rssMax <= rssBudget);
        return 0;
    }

    private static void Target(string text, bool met) => Console.WriteLine($"  {(met ? "met    " : "NOT met")}  {text}");

    private static double D(JsonElement e, string name) => e.GetProperty(name).GetDouble();

    /// <summary>The ONNX model holding the pretrained weights as initializers (weights_onnx.py), shared with the serve benchmark.</summary>
    private static string EnsureModel(string pretrained)
    {
        string model = Path.Combine(Path.GetDirectoryName(pretrained)!, "pretrained.onnx");
        if (File.Exists(model)) return model;
        Console.WriteLine($"writing {model} (the ViT-B/32 tensor set as ONNX initializers, once)…");
        var psi = new ProcessStartInfo("/usr/bin/python3") { UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "weights_onnx.py"), pretrained, model + ".tmp", "visual.proj" }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"weights_onnx.py exited with {p.ExitCode}");
        File.Move(model + ".tmp", model);
        return model;
    }

    /// <summary>A child process of this binary; its result is the line after "RESULT ".</summary>
    private static JsonElement? RunMeasurement(string[] args)
    {
        var (code, output) = MergeBenchmark.RunChild(args);
        string? line = output.Split('\n').LastOrDefault(l => l.StartsWith("RESULT ", StringComparison.Ordinal));
        if (code != 0 || line is null)
        {
            Console.Error.WriteLine($"edgetvq-bench {string.Join(' ', args)} exited with {code}:\n{output}");
            return null;
        }
        return JsonDocument.Parse(line["RESULT ".Length..]).RootElement.Clone();
    }

    private static JsonElement? Torch(string export, Scenario s, int threads, string oursFile)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "torch_merge.py"), export, "--tasks", s.Tasks.ToString(CultureInfo.InvariantCulture),
                     "--lam", s.Lambda.ToString("R", CultureInfo.InvariantCulture), "--threads", threads.ToString(CultureInfo.InvariantCulture), "--ours", oursFile })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        string? line = output.Split('\n').LastOrDefault(l => l.StartsWith('{'));
        if (p.ExitCode != 0 || line is null)
        {
            Console.Error.WriteLine($"torch_merge.py ({s.Label}) exited with {p.ExitCode}:\n{output}");
            return null;
        }
        return JsonDocument.Parse(line).RootElement.Clone();
    }

    /// <summary><c>compare-child merge|switch|session …</c>: one measurement in a fresh process, printed as "RESULT {json}".</summary>
    public static int Child(string[] args)
    {
        int threads = MergeBenchmark.ParseThreads(args);
        var result = args[0] switch
        {
            "merge" => Merge(args[1], args[2], args[3], int.Parse(args[4], CultureInfo.InvariantCulture), args[5], threads),
            "switch" => Switch(args[1], args[2], args[3], threads),
            "session" => NewSession(args[1]),
            _ => throw new ArgumentException($"unknown compare-child '{args[0]}'"),
        };
        Console.WriteLine("RESULT " + JsonSerializer.Serialize(result));
        return 0;
    }

    private static Dictionary<string, double> Merge(string bundle, string pretrainedPath, string kind, int count, string outFile, int threads)
    {
        var m = ManifestIO.Load(bundle);
        var names = m.Tasks.Take(count).Select(t => t.Name).ToList();
        var recipe = kind == "individual" ? MergeRecipe.Individual(names[0]) : MergeRecipe.TaskArithmetic(names);
        long weightBytes = 4 * m.Pretrained.ParameterCount;
        long fileBytes = (m.Base?.Bytes ?? 0) + m.Tasks.Take(count).Sum(t => t.Bytes);

        double seconds, peak;
        long faults;
        using (var pretrained = new CheckpointTensorSource(pretrainedPath))
        {
            long before = Rusage.MinorFaults();
            var sw = Stopwatch.StartNew();
            using var merged = MergeBenchmark.DeviceMerge(bundle, m, pretrained, recipe, threads);
            seconds = sw.Elapsed.TotalSeconds;
            faults = Rusage.MinorFaults() - before;
            peak = MergeBenchmark.PeakRssMiB();
            // After the measurement: the merged weights, tensors in the manifest's order, for torch_merge.py to compare.
            using var output = File.Create(outFile);
            foreach (var e in m.Tensors.Where(e => e.Storage != "skipped"))
                output.Write(MemoryMarshal.AsBytes(merged.Weights.Span(e.Name)));
        }
        var (copy, _) = WarmCopyAndFill(weightBytes);
        return new()
        {
            ["seconds"] = seconds, ["minflt"] = faults, ["peak_rss_mib"] = peak,
            ["weight_bytes"] = weightBytes, ["file_bytes"] = fileBytes, ["copy_seconds"] = copy,
        };
    }

    /// <summary>Three switches between individual models (tasks 1, 2, 3) on a warm cache and a shared session; the median.</summary>
    private static Dictionary<string, double> Switch(string bundle, string pretrainedPath, string model, int threads)
    {
        var m = ManifestIO.Load(bundle);
        using var pretrained = new CheckpointTensorSource(pretrainedPath);
        using var cache = new MergeCache(pretrained, m);
        using var shared = ModelSession.CreateShared(model, new InferenceOptions { Mode = SessionMode.WeightsAsInputs });
        var first = MergeBenchmark.DeviceMerge(bundle, m, cache, MergeRecipe.Individual(m.Tasks[0].Name), threads); // warms the cache
        foreach (var own in first.OwnTensors.Values) own.Dispose();
        var binding = shared.Bind(first.Weights);
        var switches = new List<(double Merge, double Bind, long Faults)>();
        try
        {
            for (int i = 1; i <= 3; i++)
            {
                long before = Rusage.MinorFaults();
                var sw = Stopwatch.StartNew();
                var retired = binding.DisposeKeepingWeights();
                var merged = MergeBenchmark.DeviceMerge(bundle, m, cache, MergeRecipe.Individual(m.Tasks[i].Name), threads, reuse: retired);
                double merge = sw.Elapsed.TotalSeconds;
                foreach (var own in merged.OwnTensors.Values) own.Dispose();
                sw.Restart();
                binding = shared.Bind(merged.Weights);
                switches.Add((merge, sw.Elapsed.TotalSeconds, Rusage.MinorFaults() - before));
            }
        }
        finally { binding.Dispose(); }
        var median = switches.OrderBy(s => s.Merge + s.Bind).ElementAt(1);
        double peak = MergeBenchmark.PeakRssMiB();
        var (copy, fill) = WarmCopyAndFill(4 * m.Pretrained.ParameterCount);
        return new()
        {
            ["merge_seconds"] = median.Merge, ["bind_seconds"] = median.Bind, ["minflt"] = median.Faults, ["peak_rss_mib"] = peak,
            ["copy_seconds"] = copy, ["fill_seconds"] = fill,
        };
    }

    /// <summary>What users do today on a switch: a new session from the task's ONNX file, default options; median of 3 after one warm-up.</summary>
    private static Dictionary<string, double> NewSession(string model)
    {
        // Default options but for the log level: the stand-in graph uses one initializer and ONNX Runtime warns once per unused one.
        using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using (new InferenceSession(model, options)) { }
        var times = new List<double>();
        for (int i = 0; i < 3; i++)
        {
            var sw = Stopwatch.StartNew();
            using var session = new InferenceSession(model, options);
            times.Add(sw.Elapsed.TotalSeconds);
        }
        times.Sort();
        return new() { ["seconds"] = times[1], ["peak_rss_mib"] = MergeBenchmark.PeakRssMiB() };
    }

    /// <summary>Reads a file once so that its pages are in the page cache; returns its length.</summary>
    private static long WarmPageCache(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        var buffer = new byte[1 << 20];
        while (f.Read(buffer) > 0) { }
        return f.Length;
    }

    /// <summary>Best of 3 on warm buffers of <paramref name="bytes"/>: a copy between two, and a write (fill) of one.</summary>
    private static unsafe (double Copy, double Fill) WarmCopyAndFill(long bytes)
    {
        var src = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        var dst = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        try
        {
            NativeMemory.Fill(src, (nuint)bytes, 1);
            NativeMemory.Clear(dst, (nuint)bytes);
            double copy = double.MaxValue, fill = double.MaxValue;
            for (int r = 0; r < 3; r++)
            {
                var sw = Stopwatch.StartNew();
                Buffer.MemoryCopy(src, dst, bytes, bytes);
                copy = Math.Min(copy, sw.Elapsed.TotalSeconds);
                sw.Restart();
                NativeMemory.Fill(dst, (nuint)bytes, (byte)r);
                fill = Math.Min(fill, sw.Elapsed.TotalSeconds);
            }
            return (copy, fill);
        }
        finally
        {
            NativeMemory.AlignedFree(src);
            NativeMemory.AlignedFree(dst);
        }
    }
}

/// <summary>getrusage(2) through libc: the process's minor page faults so far.</summary>
internal static partial class Rusage
{
    [StructLayout(LayoutKind.Sequential)]
    private struct RUsage
    {
        public long UtimeSec, UtimeUsec, StimeSec, StimeUsec;
        public long MaxRss, IxRss, IdRss, IsRss, MinFlt, MajFlt, NSwap, InBlock, OuBlock, MsgSnd, MsgRcv, NSignals, NVcsw, NIvcsw;
    }

    private const int RusageSelf = 0;

    [LibraryImport("libc", EntryPoint = "getrusage", SetLastError = true)]
    private static partial int GetRusage(int who, out RUsage usage);

    public static long MinorFaults() => GetRusage(RusageSelf, out var u) == 0 ? u.MinFlt : throw new InvalidOperationException($"getrusage failed: errno {Marshal.GetLastPInvokeError()}");
}
