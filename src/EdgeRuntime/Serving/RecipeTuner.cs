using System.Globalization;
using EdgeTvq.Bundle;
using EdgeTvq.Merging;
using EdgeTvq.Merging.Registry;
using EdgeTvq.Runtime.Input;

namespace EdgeTvq.Runtime.Serving;

/// <summary>One point of a tuning grid: a recipe of one method and what it scored on each validated task.</summary>
/// <param name="Method">the method's canonical name (<see cref="MethodRegistry"/>)</param>
/// <param name="Settings">the grid coordinates as text, e.g. "λ=0.35 k=0.2"</param>
/// <param name="Recipe">the recipe (its "tasks" are the merged tasks; per-task methods leave "task" to the runtime)</param>
/// <param name="Accuracy">top-1 validation accuracy per validated task</param>
/// <param name="Mean">the objective: the unweighted mean of <paramref name="Accuracy"/></param>
public sealed record TunePoint(string Method, string Settings, RecipeDocument Recipe, IReadOnlyDictionary<string, double> Accuracy, double Mean);

/// <summary>Every grid point in evaluation order, the best of each method (in the order asked for) and the best of all.</summary>
public sealed record TuneResult(IReadOnlyList<TunePoint> Grid, IReadOnlyList<TunePoint> BestPerMethod, TunePoint Best);

/// <summary>
/// Grid search of merge hyperparameters on held-out validation data, through the device path: each grid point is a
/// recipe that <see cref="ModelHost.Switch"/> merges from the bundle (the same streaming merge as <c>edgetvq run</c>),
/// and <see cref="TaskRunner.Run"/> classifies the validation images with the task's own preprocessing and head. The
/// objective is the mean top-1 accuracy over the validated tasks; ties go to the earlier grid point (smaller
/// coefficients come first), so the choice is deterministic. Only the images handed in are ever looked at.
/// </summary>
public static class RecipeTuner
{
    /// <summary>λ (or α) in {0.05, 0.10, …, 1.00}: the reference implementations' search range.</summary>
    public static IReadOnlyList<double> LambdaGrid { get; } = Enumerable.Range(1, 20).Select(i => Math.Round(0.05 * i, 2)).ToArray();

    /// <summary>TIES's k (fraction kept per task): the TIES paper's {10, 20, 30} %.</summary>
    public static IReadOnlyList<double> TiesKGrid { get; } = [0.1, 0.2, 0.3];

    /// <summary>Consensus's k (masks that must agree): 1, 2 (the paper's choice) and 3, as far as the merged tasks allow.</summary>
    public static IReadOnlyList<double> ConsensusKGrid { get; } = [1, 2, 3];

    /// <summary>The methods <c>edgetvq-pack tune</c> searches when given no --methods.</summary>
    public static IReadOnlyList<string> DefaultMethods { get; } = ["task_arithmetic", "ties", "lines", "consensus", "emr"];

    /// <summary>
    /// The grid of <paramref name="method"/> over <paramref name="tasks"/>, in evaluation order. Methods that scale the
    /// merged vector get the λ grid; TIES (both aggregations, and DARE + TIES) also k ∈ {0.1, 0.2, 0.3}; Consensus also
    /// k ∈ {1, 2, 3} (≤ T); LiNeS gets β on the λ grid with α = 1/T (it takes no λ). Methods without a coefficient
    /// (individual, EMR, TSV-Compress) are one point with their defaults. Every other parameter keeps its default.
    /// </summary>
    public static IReadOnlyList<(string Settings, RecipeDocument Recipe)> Grid(string method, IReadOnlyList<string> tasks)
    {
        var d = MethodRegistry.Get(method, "tune --methods");
        RecipeDocument Doc(double? lambda, Dictionary<string, double>? ps) => new()
        {
            Method = d.Name, Tasks = tasks.ToList(), Lambda = lambda, Params = ps,
        };
        var points = new List<(string, RecipeDocument)>();
        var parameterNames = d.Parameters.Select(p => p.Name).ToHashSet();
        if (d.Method == MergeMethod.LiNeS)
        {
            foreach (double beta in LambdaGrid) points.Add(($"β={G(beta)}", Doc(null, new() { ["beta"] = beta })));
            return points;
        }
        if (d.Lambda != LambdaUse.Scales)
        {
            points.Add(("defaults", Doc(null, null)));
            return points;
        }
        IReadOnlyList<double>? ks = d.Method == MergeMethod.Consensus ? ConsensusKGrid.Where(k => k <= tasks.Count).ToList()
            : parameterNames.Contains("k") ? TiesKGrid : null;
        foreach (double k in ks ?? [double.NaN])
            foreach (double lambda in LambdaGrid)
                points.Add(double.IsNaN(k)
                    ? ($"{d.LambdaSymbol}={G(lambda)}", Doc(lambda, null))
                    : ($"{d.LambdaSymbol}={G(lambda)} k={G(k)}", Doc(lambda, new() { ["k"] = k })));
        return points;
    }

    /// <summary>
    /// Evaluates every grid point of <paramref name="methods"/> on <paramref name="validation"/> (task → labelled images)
    /// with <paramref name="score"/> and picks the best of each method and overall. <paramref name="score"/> gets a
    /// recipe and returns the accuracy of every validated task; <see cref="Tune(ModelHost, IReadOnlyList{string}, IReadOnlyDictionary{string, IReadOnlyList{InputImage}}, IEnumerable{string}, Action{TunePoint}?)"/>
    /// scores through the device path.
    /// </summary>
    public static TuneResult Search(IReadOnlyList<string> mergedTasks, IEnumerable<string> methods,
        Func<RecipeDocument, IReadOnlyDictionary<string, double>> score, Action<TunePoint>? progress = null)
    {
        var grid = new List<TunePoint>();
        var best = new List<TunePoint>();
        var seen = new HashSet<string>();
        foreach (var name in methods)
        {
            var d = MethodRegistry.Get(name, "tune --methods");
            if (!seen.Add(d.Name)) continue;
            TunePoint? methodBest = null;
            foreach (var (settings, recipe) in Grid(d.Name, mergedTasks))
            {
                var accuracy = score(recipe);
                if (accuracy.Count == 0) throw new ArgumentException("no validation data: give at least one --validation TASK=FILE");
                var point = new TunePoint(d.Name, settings, recipe, accuracy, accuracy.Values.Average());
                grid.Add(point);
                progress?.Invoke(point);
                if (methodBest is null || point.Mean > methodBest.Mean) methodBest = point; // ties: the earlier point stays
            }
            best.Add(methodBest!);
        }
        if (best.Count == 0) throw new ArgumentException("no method to tune");
        var overall = best[0];
        foreach (var p in best.Skip(1)) if (p.Mean > overall.Mean) overall = p;
        return new TuneResult(grid, best, overall);
    }

    /// <summary>
    /// The grid search on <paramref name="host"/>'s bundle: merges every grid point over <paramref name="mergedTasks"/>
    /// and classifies each validated task's images (per-task methods such as EMR build each validated task's model).
    /// </summary>
    public static TuneResult Tune(ModelHost host, IReadOnlyList<string> mergedTasks, IReadOnlyDictionary<string, IReadOnlyList<InputImage>> validation,
        IEnumerable<string> methods, Action<TunePoint>? progress = null)
    {
        var m = host.Manifest;
        foreach (var t in mergedTasks) TaskDecoder.FindTask(m, t);
        foreach (var (task, images) in validation)
        {
            TaskDecoder.FindTask(m, task);
            if (images.Count == 0) throw new ArgumentException($"the validation data of task '{task}' holds no image");
            if (images.FirstOrDefault(i => i.Label is null) is { } unlabelled)
                throw new ArgumentException($"validation image {unlabelled.Source} of task '{task}' has no label (an idx images file needs its labels file beside it)");
        }
        return Search(mergedTasks, methods, recipe => Score(host, m, recipe, validation), progress);
    }

    private static Dictionary<string, double> Score(ModelHost host, BundleManifest m, RecipeDocument recipe, IReadOnlyDictionary<string, IReadOnlyList<InputImage>> validation)
    {
        var d = MethodRegistry.Get(recipe.Method, "recipe");
        var accuracy = new Dictionary<string, double>(StringComparer.Ordinal);
        if (!d.ServesOneTask)
        {
            host.Switch(recipe.ToRecipe(m, $"tune ({recipe.Method})"));
            using var lease = host.Acquire();
            foreach (var (task, images) in validation) accuracy[task] = Accuracy(lease.Model, task, images);
            return accuracy;
        }
        foreach (var (task, images) in validation)
        {
            host.Switch(recipe.ToRecipe(m, $"tune ({recipe.Method})", servedTask: task));
            using var lease = host.Acquire();
            accuracy[task] = Accuracy(lease.Model, task, images);
        }
        return accuracy;
    }

    /// <summary>Top-1 accuracy of <paramref name="model"/> on labelled images of a classification task (<see cref="TaskRunner.Run"/>).</summary>
    public static double Accuracy(LiveModel model, string task, IReadOnlyList<InputImage> images)
    {
        var view = TaskRunner.ViewOf(model, task);
        if (view.Kind != TaskKind.Classification)
            throw new ArgumentException($"task '{task}' is a {TaskKinds.Name(view.Kind)} task; tuning scores classification accuracy only");
        var results = TaskRunner.Run(model, task, images, topK: 1);
        int correct = results.Count(r => r.Top is [var first, ..] && first.Index == r.TrueLabel);
        return images.Count == 0 ? 0 : (double)correct / images.Count;
    }

    private static string G(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
}
