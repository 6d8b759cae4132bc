using EdgeTvq.Bundle;
using EdgeTvq.Merging;

namespace EdgeTvq.Eval;

/// <summary>
/// Per-task: one merged model per task (θ_pre + τ̂_t), evaluated on its own task (and, with cross-task evaluation,
/// on every other task). Multi-task: one merged model for all tasks, evaluated on every task.
/// </summary>
public enum MethodKind { PerTask, MultiTask }

/// <summary>What a recipe factory may use: the bundle's tasks (in zoo order) and tensor table.</summary>
public sealed record MergeContext(IReadOnlyList<string> Tasks, BundleManifest Manifest)
{
    public IEnumerable<string> TensorNames => Manifest.Tensors.Select(t => t.Name);
}

/// <summary>
/// A merging method as the harness runs it: a row of the tables. <see cref="Settings"/> holds its hyperparameters
/// as text; it is part of the cache key, so changing one re-runs that row. <paramref name="Recipe"/> gets the task
/// for <see cref="MethodKind.PerTask"/> methods and null for multi-task ones.
/// </summary>
public sealed record MergingMethod(string Id, string Label, MethodKind Kind, string Settings, Func<MergeContext, string?, MergeRecipe> Recipe)
{
    public string Key => $"{Id} {Kind} {Settings}";

    /// <summary>
    /// Every method the harness evaluates, in table order. Adding a method (e.g. from the richer MergeRecipe of the
    /// merging-methods branch) is one line here: id, label, kind, settings text, recipe factory.
    /// </summary>
    public static IReadOnlyList<MergingMethod> All { get; } =
    [
        new("individual", "Individual", MethodKind.PerTask, "", (_, task) => MergeRecipe.Individual(task!)),
        new("ta", "Task arithmetic", MethodKind.MultiTask, "λ=0.3", (c, _) => MergeRecipe.TaskArithmetic(c.Tasks, 0.3f)),
        new("lines", "LiNeS", MethodKind.MultiTask, "α=1/T β=0.5", (c, _) => MergeRecipe.LiNeS(c.Tasks, c.TensorNames, 0.5f)),
    ];

    /// <summary>Task arithmetic with another λ, for sweeps: id <c>ta@λ</c> (e.g. <c>ta@0.1</c>).</summary>
    public static MergingMethod TaskArithmeticWith(float lambda)
    {
        string l = lambda.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);
        return new($"ta@{l}", $"Task arithmetic (λ={l})", MethodKind.MultiTask, $"λ={l}", (c, _) => MergeRecipe.TaskArithmetic(c.Tasks, lambda));
    }

    /// <summary>A method of <see cref="All"/> by id, or <c>ta@λ</c>.</summary>
    public static MergingMethod Find(string id)
    {
        if (All.FirstOrDefault(m => m.Id == id) is { } m) return m;
        if (id.StartsWith("ta@", StringComparison.Ordinal) && float.TryParse(id[3..], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out float lambda) && lambda > 0)
            return TaskArithmeticWith(lambda);
        throw new ArgumentException($"unknown method '{id}'; known: {string.Join(", ", All.Select(x => x.Id))}, or ta@λ (task arithmetic with coefficient λ)");
    }
}
