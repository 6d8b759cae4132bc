using System.CommandLine;
using System.Globalization;
using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Merging;
using EdgeTvq.Merging.Registry;
using Spectre.Console;

namespace EdgeTvq.Packer.Commands;

/// <summary>
/// <c>edgetvq-pack merge</c>: merged weights computed offline from a bundle, for any method of
/// <see cref="MethodRegistry"/>, by the device's own code (<see cref="BundleMerger"/>: the fused path or the general
/// streaming path), so the file holds exactly the weights the device would merge. Writes θ_pre + Δ for every tensor
/// of the bundle's table as float32 .safetensors (and, for a method that builds one task's model, that task's own
/// tensors, e.g. its head). On a workstation this is where expensive methods (TSV's SVDs) run.
/// </summary>
internal static class MergeCommand
{
    public static Command Create()
    {
        var bundle = Cli.Required("--bundle", "bundle folder");
        var pretrained = Cli.Required("--pretrained", "the bundle's pretrained checkpoint (θ_pre)");
        var method = new Option<string?>("--method") { Description = $"merging method: {MethodRegistry.KnownNames}" };
        var recipeOption = new Option<string?>("--recipe") { Description = "NAME of a recipe in the bundle's manifest, or FILE.json (docs/merging.md); instead of --method" };
        var tasks = new Option<string[]?>("--tasks") { Description = "tasks to merge (repeated or comma-separated; default: every task of the bundle)", AllowMultipleArgumentsPerToken = true };
        var task = new Option<string?>("--task") { Description = $"the served task of {string.Join(", ", MethodRegistry.All.Where(d => d.ServesOneTask).Select(d => d.Name))} (its own tensors, e.g. its head, are written too)" };
        var lambda = new Option<float?>("--lambda") { CustomParser = r => Cli.Coefficient(r, "--lambda"), Description = "coefficient on the merged vector (default: the method's)" };
        var alpha = new Option<float?>("--alpha") { CustomParser = r => Cli.Coefficient(r, "--alpha"), Description = "the same as --lambda, for the methods that call it α (tsv_merge, breadcrumbs, consensus)" };
        var parameters = new Option<string[]>("--param") { Description = "a method parameter NAME=VALUE as in a recipe's \"params\" (repeatable; e.g. k=0.2, beta=0.5)" };
        var output = Cli.Required("--out", "output .safetensors file");
        var cmd = new Command("merge", "Merge a bundle's quantized task vectors offline with any method into a .safetensors checkpoint")
            { bundle, pretrained, method, recipeOption, tasks, task, lambda, alpha, parameters, output };
        cmd.Description += "\n\nMethods:\n" + string.Join("\n", MethodRegistry.Usage().Select(u => "  " + u));
        cmd.SetAction(r => Cli.Run(() =>
        {
            string dir = r.GetValue(bundle)!, outPath = r.GetValue(output)!;
            var m = ManifestIO.Load(dir);
            var recipe = Recipe(m, r.GetValue(method), r.GetValue(recipeOption), r.GetValue(tasks), r.GetValue(task),
                r.GetValue(lambda), r.GetValue(alpha), r.GetValue(parameters) ?? []);
            using var pre = new CheckpointTensorSource(r.GetValue(pretrained)!);
            var merged = Cli.WithProgress(p => Merge(dir, m, pre, recipe, p));
            var d = recipe.Descriptor;
            var metadata = new Dictionary<string, string>
            {
                ["edgetvq.method"] = d.Name,
                ["edgetvq.tasks"] = string.Join(",", merged.Tasks),
                ["edgetvq.scheme"] = m.Scheme,
                ["edgetvq.bundle_id"] = m.BundleId,
                ["edgetvq.recipe"] = recipe.ToString(),
            };
            if (d.Lambda == LambdaUse.Scales && !d.TakesCoefficients)
                metadata[d.LambdaSymbol == "α" ? "edgetvq.alpha" : "edgetvq.lambda"] = recipe.EffectiveLambda.ToString("R", CultureInfo.InvariantCulture);
            string partial = outPath + ".partial";
            SafetensorsWriter.WriteFloat32(partial, merged.Tensors, metadata);
            File.Move(partial, outPath, overwrite: true);
            AnsiConsole.MarkupLineInterpolated($"[green]wrote[/] {outPath}: {merged.Tensors.Count} tensors, {recipe}");
            return Cli.Ok;
        }));
        return cmd;
    }

    /// <summary>
    /// The recipe of the command line: <c>--recipe</c> (as the runtime resolves it), or <c>--method</c> with
    /// <c>--tasks</c>, <c>--task</c>, <c>--lambda</c>/<c>--alpha</c> and <c>--param</c>, checked exactly as a recipe file
    /// with those members would be (<see cref="RecipeDocument.ToRecipe"/>).
    /// </summary>
    public static MergeRecipe Recipe(BundleManifest m, string? method, string? recipe, string[]? tasks, string? task, float? lambda, float? alpha, string[] parameters)
    {
        if (lambda is not null && alpha is not null) throw new ArgumentException("--lambda and --alpha are the same coefficient: give one");
        lambda ??= alpha;
        if (recipe is not null)
        {
            if (method is not null || tasks is not null || lambda is not null || parameters.Length > 0)
                throw new ArgumentException("--recipe names its method, tasks and parameters: it excludes --method, --tasks, --lambda/--alpha and --param");
            return BundleRecipes.Resolve(m, recipe, task);
        }
        if (method is null) throw new ArgumentException("name the method (--method M) or a recipe (--recipe NAME|FILE.json)");
        var d = MethodRegistry.Get(method, "--method");
        if (task is not null && !d.ServesOneTask)
            throw new ArgumentException($"--task is for the methods that build one task's model ({string.Join(", ", MethodRegistry.All.Where(x => x.ServesOneTask).Select(x => x.Name))}); {d.Name} builds one model for all its tasks");
        if (lambda is not null && d.Lambda == LambdaUse.Refused) throw new ArgumentException($"--lambda {d.LambdaRefusal}");
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var text in parameters)
        {
            var (name, value) = Cli.SplitAssignment(text, "--param");
            if (!double.TryParse(value, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out double v))
                throw new ArgumentException($"--param {name}: '{value}' is not a number (write it like 0.3 or 3e-1)");
            if (!values.TryAdd(name, v)) throw new ArgumentException($"--param {name} is given twice");
        }
        var selected = tasks is null || tasks.Length == 0 ? null
            : tasks.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        var document = new RecipeDocument { Method = d.Name, Tasks = selected, Task = task, Lambda = lambda, Params = values.Count > 0 ? values : null };
        return document.ToRecipe(m, $"--method {d.Name}");
    }

    public sealed record Merged(IReadOnlyList<string> Tasks, List<(string Name, long[] Shape, float[] Data)> Tensors);

    /// <summary>
    /// θ = θ_pre + Δ per table tensor by <see cref="BundleMerger"/>, the device's merge (plus the served task's own
    /// tensors for a method that builds one task's model). θ_pre is checked against the bundle and read once; the
    /// RTVQ base is not kept (<see cref="MergeCache"/> with keepBase: false), so every method reads as the device's
    /// uncached merge does.
    /// </summary>
    public static Merged Merge(string dir, BundleManifest m, ITensorSource pre, MergeRecipe recipe, PackProgress progress)
    {
        using var cache = new MergeCache(pre, m, keepBase: false);
        using var result = BundleMerger.Merge(dir, m, cache, recipe, progress);
        var tensors = result.Weights.Names.Select(n => (n, result.Weights.ShapeOf(n), result.Weights.Span(n).ToArray())).ToList();
        bool oneTask = recipe.Descriptor.ServesOneTask;
        if (oneTask && result.OwnTensors.TryGetValue(recipe.Task!, out var own))
            tensors.AddRange(own.Names.Select(n => (n, own.ShapeOf(n), own.Span(n).ToArray())));
        return new Merged(oneTask ? [recipe.Task!] : recipe.SelectedTasks, tensors);
    }
}
