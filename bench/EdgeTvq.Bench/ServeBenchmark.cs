using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using EdgeTvq.Bundle;
using EdgeTvq.Format;

namespace EdgeTvq.Bench;

/// <summary>
/// Memory and switch time of `edgetvq serve` (the native x64 binary of ./build.sh publish) on two model sizes, in the
/// default mode and with --low-memory: the quick zoo (RTVQ B3O2, 8 tasks; ./build.sh zoo --quick) and the ViT-B/32
/// tensor set (the merge benchmark's 20-task RTVQ B3O2 bundle, its pretrained weights written as an ONNX model).
/// Each configuration is one serve process: it starts on one task's individual model, switches through individual
/// models and one task-arithmetic merge, and its peak RSS (VmHWM) is read before it quits.
/// </summary>
internal static partial class ServeBenchmark
{
    public static int Run(string[] args)
    {
        string root = Directory.GetCurrentDirectory();
        string binary = Environment.GetEnvironmentVariable("EDGETVQ_BINARY") ?? Path.Combine(root, "artifacts", "publish", "linux-x64", "edgetvq");
        if (!File.Exists(binary)) { Console.Error.WriteLine($"{binary} is missing: run ./build.sh publish --rid linux-x64"); return 1; }
        string work = Path.Combine(Path.GetTempPath(), "edgetvq-serve-bench");
        Directory.CreateDirectory(work);
        var sets = new List<(string Label, string Bundle, string Model)>();

        string zoo = Environment.GetEnvironmentVariable("EDGETVQ_ZOO") ?? Path.Combine(root, "artifacts", "zoo", "quick-8tasks");
        if (File.Exists(Path.Combine(zoo, "manifest.json")))
        {
            string bundle = Path.Combine(work, "zoo-rtvq-b3o2");
            if (!File.Exists(Path.Combine(bundle, FormatConstants.ManifestFileName)))
            {
                var argsFile = Run("/usr/bin/python3", [Path.Combine(root, "bench", "demo", "zoo_pack_args.py"), zoo, Path.Combine(work, "zoo-metadata")]);
                var packArgs = argsFile.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
                string packer = Path.Combine(root, "src", "Packer", "bin", "Release", "net10.0", "edgetvq-pack.dll");
                Run("dotnet", [packer, "pack", .. packArgs, "--scheme", "rtvq", "--base-bits", "3", "--offset-bits", "2", "--out", bundle]);
            }
            sets.Add(("quick zoo (60 k parameters, 8 tasks)", bundle, Path.Combine(zoo, "encoder.onnx")));
        }
        else Console.WriteLine($"(no quick zoo at {zoo}: ./build.sh zoo --quick builds it; skipped)");

        var (vitBundle, vitPretrained) = MergeBenchmark.EnsureBundle();
        string vitModel = Path.Combine(Path.GetDirectoryName(vitPretrained)!, "pretrained.onnx");
        if (!File.Exists(vitModel))
            Run("/usr/bin/python3", [Path.Combine(AppContext.BaseDirectory, "weights_onnx.py"), vitPretrained, vitModel, "visual.proj"]);
        sets.Add(("ViT-B/32 tensor set (88 M parameters, 20 tasks)", vitBundle, vitModel));

        Console.WriteLine($"edgetvq serve ({binary}); machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription.Trim()}, {RuntimeInformation.ProcessArchitecture}");
        Console.WriteLine("switch: merge + session, as serve reports it; individual = median of 4 switches between tasks' own models.");
        Console.WriteLine($"{"model",-48} {"mode",-12} {"weights MiB",12} {"peak RSS MiB",13} {"switch individual ms",21} {"switch TA ms",13}");
        foreach (var (label, bundle, model) in sets)
        {
            var m = ManifestIO.Load(bundle);
            double weightsMiB = 4.0 * m.Pretrained.ParameterCount / (1 << 20);
            foreach (bool low in new[] { false, true })
            {
                var (peak, individual, ta) = Serve(binary, bundle, model, m.Tasks.Select(t => t.Name).ToList(), low);
                Console.WriteLine($"{label,-48} {(low ? "--low-memory" : "default"),-12} {weightsMiB,12:F0} {peak,13:F0} {individual,21:F0} {ta,13:F0}");
            }
        }
        return 0;
    }

    private static (double PeakMiB, double IndividualMs, double TaMs) Serve(string binary, string bundle, string model, List<string> tasks, bool lowMemory)
    {
        var psi = new ProcessStartInfo(binary) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "serve", "--stdin", "--bundle", bundle, "--model", model, "--task", tasks[0], "--allow-unsigned" }) psi.ArgumentList.Add(a);
        if (lowMemory) psi.ArgumentList.Add("--low-memory");
        psi.Environment["ORT_DISABLE_TELEMETRY"] = "1";
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string Expect()
        {
            string line = p.StandardOutput.ReadLine() ?? throw new InvalidOperationException($"serve ended: {stderr.Result}");
            if (!line.StartsWith("switched to ", StringComparison.Ordinal)) throw new InvalidOperationException($"serve answered: {line}");
            return line;
        }
        static double Total(string line) => double.Parse(TotalMs().Match(line).Groups[1].Value, CultureInfo.InvariantCulture);
        Expect();
        var individual = new List<double>();
        for (int i = 1; i <= 4; i++)
        {
            p.StandardInput.WriteLine($"use individual {tasks[i % tasks.Count]}");
            individual.Add(Total(Expect()));
        }
        p.StandardInput.WriteLine("use ta");
        double ta = Total(Expect());
        p.Refresh();
        double peak = PeakRssMiB(p.Id);
        p.StandardInput.WriteLine("quit");
        p.WaitForExit();
        individual.Sort();
        return (peak, (individual[1] + individual[2]) / 2, ta);
    }

    /// <summary>VmHWM of a running process, in MiB.</summary>
    private static double PeakRssMiB(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
        throw new InvalidOperationException("no VmHWM");
    }

    private static string Run(string file, string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited with {p.ExitCode}");
        return output;
    }

    [GeneratedRegex(@"total (\d+) ms")]
    private static partial Regex TotalMs();
}
