using System.Globalization;
using EdgeTvq.Bundle;
using EdgeTvq.Merging;
using EdgeTvq.Merging.Registry;

namespace EdgeTvq.Eval;

/// <summary>
/// Per-task: one merged model per task (θ_pre + τ̂_t, EMR's task-specific models), evaluated on its own task (and,
/// for <see cref="MergingMethod.CrossTask"/> methods with cross-task evaluation, on every other task). Multi-task:
/// one merged model for all tasks, evaluated on every task.
/// </summary>
public enum MethodKind { PerTask, MultiTask }

/// <summary>
/// What a recipe factory may use: the bundle's tasks (in zoo order) and tensor table, and for methods that learn
/// their recipe from the bundle (AdaMerging) the zoo, the scheme's bundle folder and the harness's output folder.
/// </summary>
public sealed record MergeContext(IReadOnlyList<string> Tasks, BundleManifest Manifest)
{
    public IEnumerable<string> TensorNames => Manifest.Tensors.Select(t => t.Name);
    public Zoo? Zoo { get; init; }
    public StorageScheme? Scheme { get; init; }
    public string? BundleDir { get; init; }
    public string? OutDir { get; init; }
}

/// <summary>
/// A merging method as the harness runs it: a row of the tables. <see cref="Settings"/> holds its hyperparameters
/// as text; it is part of the cache key, so changing one re-runs that row. <paramref name="Recipe"/> gets the task
/// for <see cref="MethodKind.PerTask"/> methods and null for multi-task ones.
/// </summary>
public sealed record MergingMethod(string Id, string Label, MethodKind Kind, string Settings, Func<MergeContext, string?, MergeRecipe> Recipe)
{
    public string Key => $"{Id} {Kind} {Settings}";

    /// <summary>Evaluate each per-task model on every task with <c>--cross</c> (Table 4: Individual only).</summary>
    public bool CrossTask { get; init; }

    /// <summary>The main schemes this method runs on (null: all); expensive methods (AdaMerging) run on a few.</summary>
    public IReadOnlyList<string>? Schemes { get; init; }

    public bool RunsOn(StorageScheme s) => Schemes is null || Schemes.Contains(s.Id);

    /// <summary>
    /// The main schemes AdaMerging runs on (each learns its own coefficients, 5–18 s a run): all of them (the whole
    /// evaluation takes about 17 minutes, docs/results.md); narrow this list where learning costs more.
    /// </summary>
    public static IReadOnlyList<string> AdaMergingSchemes { get; } = StorageScheme.Main.Select(s => s.Id).ToList();

    /// <summary>
    /// AdaMerging's step count in the tables, with Adam lr 5e-3: the λ travel of the reference's 500 steps at 1e-3 in a
    /// fifth of the time (measured 16–18 s a run on the full zoo, 1 thread; docs/results.md).
    /// </summary>
    public const int AdaMergingSteps = 100;

    /// <summary>
    /// Every method the harness evaluates, in table order. Adding a method is one line here: id, label, kind,
    /// settings text, recipe factory. Hyperparameters are the reference defaults (docs/merging.md), set explicitly
    /// so that the settings text says what runs.
    /// </summary>
    public static IReadOnlyList<MergingMethod> All { get; } =
    [
        Row("individual", "Individual", "", "individual") with { CrossTask = true },
        Row("ta", "Task arithmetic", "λ=0.3", "task_arithmetic", r => MergeRecipe.TaskArithmetic(r.SelectedTasks, 0.3f)),
        Row("ties", "TIES", "disjoint mean k=0.2 λ=1", "ties", r => r with { TopK = 0.2, Lambda = 1f }),
        Row("ties-dis-sum", "TIES (dis-sum)", "disjoint sum k=0.2 λ=0.3", "ties_dis_sum", r => r with { TopK = 0.2, Lambda = 0.3f }),
        Row("magmax", "MagMax", "λ=0.5", "magmax", r => r with { Lambda = 0.5f }),
        Row("breadcrumbs", "Breadcrumbs", "α=0.2 β=0.15 γ=0.006", "breadcrumbs", r => r with { Lambda = 0.2f, BreadcrumbsBeta = 0.15, BreadcrumbsGamma = 0.006 }),
        Row("consensus", "Consensus TA", "k=2 TALL λ=0.6 α=0.3", "consensus", r => r with { ConsensusK = 2, TallLambda = 0.6f, Lambda = 0.3f }),
        Row("emr", "EMR (per task)", "", "emr"),
        Row("dare", "DARE + TA", "p=0.5 seed=0 λ=0.3", "dare", r => r with { DropRate = 0.5, Seed = 0, Lambda = 0.3f }),
        Row("dare-ties", "DARE + TIES", "p=0.5 seed=0 k=0.2 λ=1", "dare_ties", r => r with { DropRate = 0.5, Seed = 0, TopK = 0.2, Lambda = 1f }),
        Row("lines", "LiNeS", "α=1/T β=0.5", "lines"), // the registry's defaults: α = 1/T, β = 0.5
        Row("tsv-merge", "TSV-Merge", "rank ⌊r/T⌋ α=1", "tsv_merge", r => r with { Lambda = 1f }),
        Row("tsv-compress", "TSV-C (per task)", "rank ⌊r/T⌋", "tsv_compress"),
        AdaMerging(layerWise: false, AdaMergingSteps),
        AdaMerging(layerWise: true, AdaMergingSteps),
    ];

    /// <summary>
    /// The tuned rows (hyperparameters chosen on the zoo's validation split, docs/results.md "Tuned on validation
    /// data"). Not in <see cref="All"/> (what <c>--methods all</c> runs): they need a zoo with a validation split and
    /// cost a grid search per scheme; name them in --methods.
    /// </summary>
    public static IReadOnlyList<MergingMethod> TunedRows { get; } =
    [
        Tuned("ta-tuned", "Task arithmetic (tuned)", "task_arithmetic", "λ∈{0.05…1}"),
        Tuned("ties-tuned", "TIES (tuned)", "ties", "disjoint mean λ∈{0.05…1} k∈{0.1,0.2,0.3}"),
        Tuned("lines-tuned", "LiNeS (tuned)", "lines", "α=1/T β∈{0.05…1}"),
        Tuned("consensus-tuned", "Consensus TA (tuned)", "consensus", "TALL λ=0.6 α∈{0.05…1} k∈{1,2,3}"),
    ];

    /// <summary>Every row in table order: <see cref="All"/>, then <see cref="TunedRows"/>.</summary>
    public static IEnumerable<MergingMethod> Everything => All.Concat(TunedRows);

    /// <summary>
    /// A tuned row: <paramref name="method"/>'s hyperparameters grid-searched on the zoo's validation split of each
    /// scheme's bundle by <see cref="TunedRecipes"/> (mean validation accuracy over the tasks), then tested.
    /// </summary>
    private static MergingMethod Tuned(string id, string label, string method, string grid) =>
        new(id, label, MethodKind.MultiTask, $"tuned on validation: {grid}", (c, _) => TunedRecipes.Get(c, method));

    /// <summary>
    /// A row for a method of <see cref="MethodRegistry"/>: its recipe is the registry's with the method's defaults
    /// (<see cref="MethodRegistry.DefaultRecipe"/>), then <paramref name="settings"/> applied so that the settings text
    /// states what runs; per-task methods (the registry's <see cref="MergeMethodDescriptor.ServesOneTask"/>) get the task.
    /// </summary>
    private static MergingMethod Row(string id, string label, string settingsText, string method, Func<MergeRecipe, MergeRecipe>? settings = null)
    {
        var d = MethodRegistry.Get(method, "evaluation method");
        return new(id, label, d.ServesOneTask ? MethodKind.PerTask : MethodKind.MultiTask, settingsText, (c, task) =>
        {
            var recipe = MethodRegistry.DefaultRecipe(d.Name, c.Manifest, c.Tasks, task);
            return settings is null ? recipe : settings(recipe);
        });
    }

    /// <summary>
    /// AdaMerging (task-wise or layer-wise): coefficients learned by <c>edgetvq-pack adamerge</c> on the scheme's own
    /// bundle, cached per (zoo, scheme, mode, steps) by <see cref="AdaMergingRecipes"/>, applied as task arithmetic.
    /// </summary>
    public static MergingMethod AdaMerging(bool layerWise, int steps)
    {
        string mode = layerWise ? "layer-wise" : "task-wise";
        return new($"adamerging-{(layerWise ? "lw" : "tw")}", $"AdaMerging ({mode})", MethodKind.MultiTask,
            $"{mode} steps={steps} {AdaMergingRecipes.FixedSettings}", (c, _) => AdaMergingRecipes.Get(c, layerWise, steps))
        { Schemes = AdaMergingSchemes };
    }

    /// <summary>Task arithmetic with another λ, for sweeps: id <c>ta@λ</c> (e.g. <c>ta@0.1</c>).</summary>
    public static MergingMethod TaskArithmeticWith(float lambda)
    {
        string l = lambda.ToString("0.###", CultureInfo.InvariantCulture);
        return new($"ta@{l}", $"Task arithmetic (λ={l})", MethodKind.MultiTask, $"λ={l}", (c, _) => MergeRecipe.TaskArithmetic(c.Tasks, lambda));
    }

    /// <summary>A method of <see cref="All"/> by id, <c>ta@λ</c>, or <c>adamerging-tw@STEPS</c> / <c>adamerging-lw@STEPS</c>.</summary>
    public static MergingMethod Find(string id)
    {
        if (Everything.FirstOrDefault(m => m.Id == id) is { } m) return m;
        if (id.StartsWith("ta@", StringComparison.Ordinal) && float.TryParse(id[3..], NumberStyles.Float, CultureInfo.InvariantCulture, out float lambda) && lambda > 0)
            return TaskArithmeticWith(lambda);
        foreach (var (prefix, layerWise) in new[] { ("adamerging-tw@", false), ("adamerging-lw@", true) })
            if (id.StartsWith(prefix, StringComparison.Ordinal) && int.TryParse(id[prefix.Length..], NumberStyles.None, CultureInfo.InvariantCulture, out int steps) && steps > 0)
                return AdaMerging(layerWise, steps) with { Id = id };
        throw new ArgumentException($"unknown method '{id}'; known: {string.Join(", ", Everything.Select(x => x.Id))}, ta@λ (task arithmetic with coefficient λ), " +
                                    "adamerging-tw@STEPS or adamerging-lw@STEPS");
    }
}
