using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using EdgeTvq.Merging;
using EdgeTvq.Runtime.Input;
using EdgeTvq.Runtime.Serving;

namespace EdgeTvq.Runtime.Commands;

/// <summary>
/// <c>edgetvq run</c>: merge a bundle into the model and run a task on inputs: top-k with label names for
/// classification, maps at the image's size for dense tasks; <c>--output DIR</c> writes them as files.
/// </summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var common = new RuntimeOptions();
        var task = new Option<string>("--task") { Description = "task whose head, kind and preprocessing are applied to the inputs", Required = true };
        var merge = new Option<string?>("--merge") { Description = RuntimeOptions.MergeHelp };
        var tasks = new Option<string[]?>("--tasks") { Description = "tasks to merge (repeated or comma-separated; default: every task of the bundle)", AllowMultipleArgumentsPerToken = true };
        var recipeOption = new Option<string?>("--recipe") { Description = "NAME of a recipe in the bundle's manifest, or FILE.json (docs/merging.md); instead of --merge" };
        var individual = new Option<bool>("--individual") { Description = "θ_pre + τ̂ of --task only (the paper's Individual; the default when the bundle has no default recipe)" };
        var lambda = new Option<float?>("--lambda") { CustomParser = r => Cli.Coefficient(r, "--lambda"), Description = RuntimeOptions.LambdaHelp };
        var beta = new Option<float?>("--beta") { CustomParser = r => Cli.Coefficient(r, "--beta"), Description = RuntimeOptions.BetaHelp };
        var input = new Option<string[]>("--input") { Description = "PNG/JPEG images or idx image files (idx: labels from a sibling labels file give accuracy)", Required = true, AllowMultipleArgumentsPerToken = true };
        var top = new Option<int>("--top") { Description = "classes to print per input", DefaultValueFactory = _ => 3 };
        var limit = new Option<int>("--limit") { Description = "at most this many images per idx file", DefaultValueFactory = _ => int.MaxValue };
        var json = new Option<bool>("--json") { Description = "print everything as JSON" };
        var outputDir = new Option<string?>("--output") { Description = "write each input's result into this folder: NAME.json (classification), NAME.seg|depth|normal.npy and .png (dense), NAME.out.npy (tensor)" };
        var cmd = new Command("run", "Merge the bundle into the model and run a task on inputs") { task, merge, tasks, recipeOption, individual, lambda, beta, input, top, limit, json, outputDir };
        common.AddTo(cmd);
        cmd.SetAction(r => Cli.Run(() =>
        {
            if (r.GetValue(individual) && (r.GetValue(merge) is not (null or "individual") || r.GetValue(recipeOption) is not null))
                throw new ArgumentException("--individual excludes --merge and --recipe");
            var options = common.Inference(r);
            using var trust = common.Trust.Load(r);
            using var host = new ModelHost(r.GetValue(common.Bundle)!, r.GetValue(common.Model)!, options, r.GetValue(common.LowMemory), trust);
            string taskName = r.GetValue(task)!;
            var recipe = RuntimeOptions.Recipe(taskName, r.GetValue(merge), r.GetValue(lambda), r.GetValue(beta), host.Manifest,
                RuntimeOptions.SplitTasks(r.GetValue(tasks)), r.GetValue(recipeOption), individual: r.GetValue(individual));
            var report = host.Switch(recipe);
            using var lease = host.Acquire();
            var view = lease.Model.Tasks.TryGetValue(taskName, out var v) ? v
                : throw new ArgumentException($"task '{taskName}' is not among the tasks of the merged model ({recipe}); add it to --tasks or the recipe");
            var images = r.GetValue(input)!.SelectMany(f => ImageFiles.Load(f, r.GetValue(limit))).ToList();
            var clock = Stopwatch.StartNew();
            var predictions = TaskRunner.Run(lease.Model, taskName, images, r.GetValue(top));
            double inferenceMs = clock.Elapsed.TotalMilliseconds;
            var files = r.GetValue(outputDir) is { } dir ? EdgeTvq.Runtime.Output.ResultFiles.Write(dir, predictions) : null;
            var labelled = predictions.Where(p => p.TrueLabel is not null && p.Top is not null).ToList();
            var output = new RunOutput
            {
                Task = taskName, Recipe = recipe.ToString(), Mode = r.GetValue(common.Mode)!,
                Provider = lease.Model.Session.Provider.ToString(), ProviderNote = lease.Model.Session.ProviderNote,
                PretrainedLoadMs = host.CacheLoadTime.TotalMilliseconds, MergeMs = report.Merge.TotalMilliseconds,
                SessionMs = report.Session.TotalMilliseconds, InferenceMs = inferenceMs, Inputs = predictions.Count,
                Labelled = labelled.Count > 0 ? labelled.Count : null,
                Accuracy = labelled.Count > 0 ? labelled.Count(p => p.Top![0].Index == p.TrueLabel) / (double)labelled.Count : null,
                Kind = EdgeTvq.Bundle.TaskKinds.Name(view.Kind), Head = view.Head?.Type,
                Predictions = predictions, Files = files,
            };
            if (r.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(output, RuntimeJsonContext.Default.RunOutput));
            else Print(output);
            return Cli.Ok;
        }));
        return cmd;
    }

    /// <summary>A line's worth of a dense map: the classes present, or the value range.</summary>
    private static string Summary(TaskResult p)
    {
        if (p.Map!.Classes is { } classes)
            return ": classes " + string.Join(", ", classes.GroupBy(c => c).OrderByDescending(g => g.Count()).Take(5).Select(g => $"{g.Key} ({100.0 * g.Count() / classes.Length:F0} %)"));
        var v = p.Map.Values!;
        return v.Length == 0 ? "" : $": values {v.Min():G4} to {v.Max():G4}";
    }

    private static void Print(RunOutput o)
    {
        Console.WriteLine($"{o.Recipe}; session {o.Mode} on {o.Provider}{(o.ProviderNote is null ? "" : $" ({o.ProviderNote})")}");
        Console.WriteLine($"load θ_pre {o.PretrainedLoadMs:F0} ms, merge {o.MergeMs:F0} ms, session {o.SessionMs:F0} ms, inference {o.InferenceMs:F0} ms for {o.Inputs} input(s)");
        foreach (var p in o.Predictions.Take(20))
        {
            if (p.Top is { } top)
            {
                string truth = p.TrueLabel is { } t ? (top[0].Index == t ? "  ✓" : $"  ✗ (true {t})") : "";
                Console.WriteLine($"{p.Input,-28} {string.Join("   ", top.Select(s => $"{s.Label} {s.Probability:P1}"))}{truth}");
            }
            else if (p.Map is { } map)
                Console.WriteLine($"{p.Input,-28} {p.Kind} map {map.Height}×{map.Width}{Summary(p)}");
            else
                Console.WriteLine($"{p.Input,-28} output [{string.Join(", ", p.RawShape ?? [])}]");
        }
        if (o.Predictions.Count > 20) Console.WriteLine($"… {o.Predictions.Count - 20} more (use --json for all)");
        if (o.Accuracy is { } a) Console.WriteLine($"accuracy {a:P2} on {o.Labelled} labelled input(s)");
        if (o.Files is { } files) Console.WriteLine($"wrote {files.Count} file(s) into {Path.GetDirectoryName(files.FirstOrDefault() ?? ".")}");
    }
}
