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

    public static MergingMethod Find(string id) => All.FirstOrDefault(m => m.Id == id)
        ?? throw new ArgumentException($"unknown method '{id}'; known: {string.Join(", ", All.Select(m => m.Id))}");
}
