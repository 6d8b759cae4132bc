using System.CommandLine;
using System.Globalization;
using System.Text;
using EdgeTvq.Bundle;
using EdgeTvq.Merging;
using EdgeTvq.Merging.Registry;
using EdgeTvq.Runtime.Inference;
using EdgeTvq.Runtime.Input;
using EdgeTvq.Runtime.Serving;

namespace EdgeTvq.Packer.Commands;

/// <summary>
/// <c>edgetvq-pack tune --bundle B --model encoder.onnx --validation TASK=FILE … [--methods …] [--name tuned]</c>:
/// grid-searches each method's hyperparameters on validation images through the device path
/// (<see cref="RecipeTuner"/>: the runtime's <see cref="ModelHost"/> and <see cref="TaskRunner"/>), prints the grid,
/// and stores the best recipe of each method as NAME-METHOD and the best of all as NAME, the bundle's default recipe
/// (manifest "recipes" and "defaultRecipe", one atomic rewrite under the bundle's write lock).
/// </summary>
internal static class TuneCommand
{
    public static Command Create()
    {
        var bundle = Cli.Required("--bundle", "bundle folder");
        var model = Cli.Required("--model", "ONNX model of the pretrained network (as for edgetvq run)");
        var validation = new Option<string[]>("--validation")
        {
            Description = "TASK=FILE: labelled validation images of a task (idx images with the labels idx beside it, as the zoo's <task>.val.images.idx); repeat per task. Only these files are read",
            Required = true, AllowMultipleArgumentsPerToken = false,
        };
        var methods = new Option<string>("--methods")
        {
            Description = $"comma-separated methods to tune ({MethodRegistry.KnownNames})",
            DefaultValueFactory = _ => "ta,ties,lines,consensus,emr",
        };
        var tasks = new Option<string[]?>("--tasks") { Description = "tasks to merge (repeated or comma-separated; default: every task of the bundle)", AllowMultipleArgumentsPerToken = true };
        var name = new Option<string>("--name") { Description = "name of the stored default recipe; each method's best is stored as NAME-METHOD", DefaultValueFactory = _ => "tuned" };
        var noDefault = new Option<bool>("--no-default") { Description = "store the recipes but leave the bundle's default recipe as it is" };
        var dryRun = new Option<bool>("--dry-run") { Description = "print the grid and the choice; change nothing" };
        var threads = new Option<int>("--threads") { Description = "ONNX Runtime intra-op threads (0: one per core)", DefaultValueFactory = _ => 0 };
        var cmd = new Command("tune", "Grid-search merge hyperparameters on validation data through the device path; store the best recipes and the default")
            { bundle, model, validation, methods, tasks, name, noDefault, dryRun, threads };
        cmd.SetAction(r => Cli.Run(() =>
        {
            string dir = r.GetValue(bundle)!;
            string prefix = r.GetValue(name)!;
            if (!BundleNames.IsValidTaskName(prefix) || prefix.Length > 40)
                throw new ArgumentException($"--name '{prefix}' is invalid: use 1-40 characters of letters, digits, '_', '.', '-', starting with a letter or digit");
            var methodNames = r.GetValue(methods)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(n => MethodRegistry.Get(n, "--methods").Name).Distinct().ToList();
            if (methodNames.Count == 0) throw new ArgumentException("--methods names no method");
            var sets = LoadValidation(r.GetValue(validation)!);
            int imageCount = sets.Values.Sum(s => s.Count);
            if (r.GetValue(threads) < 0) throw new ArgumentException("--threads must be 0 (one per core) or more");
            var options = new InferenceOptions { IntraOpThreads = r.GetValue(threads) };
            using var host = new ModelHost(dir, r.GetValue(model)!, options);
            var m = host.Manifest;
            var merged = SplitTasks(r.GetValue(tasks)) ?? m.Tasks.Select(t => t.Name).ToList();
            var order = sets.Keys.ToList();
            int total = methodNames.Sum(n => RecipeTuner.Grid(n, merged).Count);
            Console.Error.WriteLine($"tuning {string.Join(", ", methodNames)} over {merged.Count} merged task(s): {total} grid points, " +
                                    $"each scored on {imageCount:N0} validation images of {sets.Count} task(s)");
            int done = 0;
            var result = RecipeTuner.Tune(host, merged, sets, methodNames, p =>
            {
                if (++done % 10 == 0 || done == total) Console.Error.WriteLine($"  {done}/{total} grid points");
            });
            Console.WriteLine(Table(result, order));
            var stored = new List<(string Name, RecipeDocument Recipe)>();
            foreach (var best in result.BestPerMethod)
                stored.Add(($"{prefix}-{best.Method}", WithSource(best, result, imageCount, sets.Count)));
            stored.Add((prefix, WithSource(result.Best, result, imageCount, sets.Count)));
            Console.WriteLine("best per method (validation mean accuracy):");
            foreach (var best in result.BestPerMethod)
                Console.WriteLine($"  {prefix + "-" + best.Method,-28} {best.Settings,-16} {100 * best.Mean,6:F2} %{(best == result.Best ? "  <- best" : "")}");
            if (r.GetValue(dryRun))
            {
                Console.WriteLine("--dry-run: the bundle was not changed");
                return Cli.Ok;
            }
            string? defaultName = r.GetValue(noDefault) ? null : prefix;
            BundleRecipes.SetMany(dir, stored, defaultName, "edgetvq-pack tune");
            Console.WriteLine($"stored {stored.Count} recipes in {Path.Combine(dir, "manifest.json")}: {string.Join(", ", stored.Select(s => s.Name))}" +
                              (defaultName is null ? "" : $"; default recipe '{defaultName}' = {result.Best.Method} {result.Best.Settings}"));
            if (File.Exists(Path.Combine(dir, SignatureFile.FileName)))
                Console.WriteLine($"the bundle was signed: the manifest changed, so its signature no longer matches and devices will refuse it until you sign it again: edgetvq-pack sign {dir} --key KEY.pem");
            return Cli.Ok;
        }));
        return cmd;
    }

    /// <summary>The images of each <c>--validation TASK=FILE</c> (tune and sensitivity).</summary>
    internal static Dictionary<string, IReadOnlyList<InputImage>> LoadValidation(IEnumerable<string> specs)
    {
        var sets = new Dictionary<string, IReadOnlyList<InputImage>>(StringComparer.Ordinal);
        foreach (var spec in specs)
        {
            var (task, file) = Cli.SplitAssignment(spec, "--validation");
            if (sets.ContainsKey(task)) throw new ArgumentException($"--validation names task '{task}' twice");
            sets[task] = ImageFiles.Load(file);
        }
        return sets;
    }

    private static List<string>? SplitTasks(string[]? values) =>
        values is null || values.Length == 0 ? null : values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();

    /// <summary>The recipe with its provenance: the method's grid size and validation score.</summary>
    private static RecipeDocument WithSource(TunePoint p, TuneResult result, int images, int taskCount)
    {
        int points = result.Grid.Count(g => g.Method == p.Method);
        string mean = (100 * p.Mean).ToString("F2", CultureInfo.InvariantCulture);
        return new RecipeDocument
        {
            Method = p.Recipe.Method, Tasks = p.Recipe.Tasks, Task = p.Recipe.Task, Lambda = p.Recipe.Lambda, Params = p.Recipe.Params,
            Source = $"edgetvq-pack tune: {p.Settings}, best of {points} grid point(s) by mean validation accuracy {mean} % ({taskCount} task(s), {images} images)",
        };
    }

    /// <summary>The grid as a text table: method, settings, mean and per-task validation accuracy (%); * marks each method's best.</summary>
    public static string Table(TuneResult result, IReadOnlyList<string> tasks)
    {
        var sb = new StringBuilder();
        string Short(string t) => t.Length <= 9 ? t : t[..4] + "…" + t[^4..];
        sb.Append($"{"method",-16} {"settings",-16} {"mean",7}");
        foreach (var t in tasks) sb.Append($" {Short(t),9}");
        sb.AppendLine();
        foreach (var p in result.Grid)
        {
            bool best = result.BestPerMethod.Contains(p);
            sb.Append($"{p.Method,-16} {p.Settings,-16} {100 * p.Mean,6:F2}{(best ? "*" : " ")}");
            foreach (var t in tasks) sb.Append($" {100 * p.Accuracy[t],9:F2}");
            sb.AppendLine();
        }
        return sb.ToString().TrimEnd();
    }
}
