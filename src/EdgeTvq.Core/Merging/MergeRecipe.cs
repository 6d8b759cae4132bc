using System.Globalization;
using EdgeTvq.Merging.Methods;
using EdgeTvq.Merging.Registry;

namespace EdgeTvq.Merging;

/// <summary>Which merged model to build from a bundle.</summary>
public enum MergeMethod
{
    /// <summary>The paper's "Individual": θ_pre + τ̂_t for one task.</summary>
    Individual,
    /// <summary>Task arithmetic: θ_pre + Σ_t λ_t τ̂_t (λ = 0.3 for every task by default; per-tensor λ_t^l allowed).</summary>
    TaskArithmetic,
    /// <summary>LiNeS on task arithmetic: θ_pre + s(l)·Σ_t τ̂_t with s(l) = 1/T + β·l/(L − 1) for block l (1/T outside blocks).</summary>
    LiNeS,
    /// <summary>TIES with disjoint mean (global top-k trim, elected sign), λ = 1.</summary>
    Ties,
    /// <summary>TIES with disjoint sum, λ = 0.3.</summary>
    TiesDisSum,
    /// <summary>MagMax: per entry the task vector of largest magnitude, λ = 0.5.</summary>
    MagMax,
    /// <summary>Model Breadcrumbs: per row, drop the top γ outliers, keep the next β; α = 0.2.</summary>
    Breadcrumbs,
    /// <summary>Consensus TA with TALL masks (k = 2, TALL λ = 0.6), α = 0.3.</summary>
    Consensus,
    /// <summary>EMR: the unified task vector with the served task's mask and rescaler (a per-task model).</summary>
    Emr,
    /// <summary>DARE (drop p = 0.5 with a seeded Bernoulli mask, rescale) then task arithmetic λ = 0.3.</summary>
    Dare,
    /// <summary>DARE (drop p = 0.5, rescale) then TIES with disjoint mean (k = 0.2, λ = 1), the other combination of the DARE paper.</summary>
    DareTies,
    /// <summary>TSV-Merge (<see cref="Methods.Tsv"/>): per matrix the tasks' top-⌊r/T⌋ singular vectors, orthogonalised; θ = θ_pre + α·τ_M, α = 1.</summary>
    TsvMerge,
    /// <summary>TSV-Compress: the served task's τ̂ with every matrix replaced by its rank-⌊r/T⌋ approximation (a per-task model).</summary>
    TsvCompress,
}

/// <summary>Fills a DARE keep-mask (true = keep) for one tensor of one task; lets tests inject masks.</summary>
public delegate void DareMaskSource(string tensor, int task, Span<bool> keep);

/// <summary>
/// A merge recipe: the method, the tasks it merges (<see cref="Coefficients"/>: for task arithmetic and LiNeS the
/// coefficient λ_t each task's dequantized codes are multiplied by; for the other methods the keys, in order, select the
/// tasks and a zero value leaves a task out) and the method's hyperparameters (defaults from the reference
/// implementations, docs/merging.md). <see cref="BundleMerger.Merge(string, Bundle.BundleManifest, Bundle.ITensorSource, MergeRecipe, Bundle.PackProgress?)"/>
/// runs any recipe; recipes are also read from JSON (<see cref="RecipeDocument"/>).
/// </summary>
public sealed record MergeRecipe(MergeMethod Method, IReadOnlyDictionary<string, float> Coefficients)
{
    public const float DefaultLambda = 0.3f;

    /// <summary>Per-tensor factor on every task's coefficient (null: 1); LiNeS's layer scaling.</summary>
    public Func<string, float>? TensorScale { get; init; }

    /// <summary>
    /// Task arithmetic (and LiNeS): per (task, tensor) coefficients λ_t^l that replace λ_t for the tensors listed
    /// (AdaMerging layer-wise results); θ = θ_pre + Σ_t λ_t^l τ_t^l. Tensors a task does not list use its λ_t.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, float>>? TensorCoefficients { get; init; }

    /// <summary>The task whose model is built, for methods that build a per-task model (individual, EMR, TSV-Compress).</summary>
    public string? Task { get; init; }

    /// <summary>The coefficient on the merged vector: TIES λ, MagMax λ, Breadcrumbs α, Consensus α, DARE's TA λ, TSV-Merge α (null: the method's default).</summary>
    public float? Lambda { get; init; }

    /// <summary>TIES: fraction of entries kept per task (0 &lt; k ≤ 1; values in (1, 100] are percentages).</summary>
    public double TopK { get; init; } = TiesMerging.DefaultK;

    /// <summary>Breadcrumbs: fraction of each row kept after the outliers (β).</summary>
    public double BreadcrumbsBeta { get; init; } = Methods.Breadcrumbs.DefaultBeta;

    /// <summary>Breadcrumbs: fraction of each row dropped as outliers (γ).</summary>
    public double BreadcrumbsGamma { get; init; } = Methods.Breadcrumbs.DefaultGamma;

    /// <summary>Consensus: an entry is kept where at least this many TALL masks agree.</summary>
    public int ConsensusK { get; init; } = ConsensusMerging.DefaultK;

    /// <summary>TALL masks: m_t = |τ_t| &gt; λ·|τ_MTL − τ_t| with this λ for every task.</summary>
    public float TallLambda { get; init; } = ConsensusMerging.DefaultLambda;

    /// <summary>DARE: drop probability p.</summary>
    public double DropRate { get; init; } = Methods.Dare.DefaultP;

    /// <summary>DARE: seed of the Bernoulli masks (System.Random, drawn tensor by tensor in table order, task by task, entry by entry).</summary>
    public int Seed { get; init; }

    /// <summary>DARE: masks from here instead of the seeded generator (tests); not part of the JSON form.</summary>
    public DareMaskSource? DareMask { get; init; }

    /// <summary>Free text describing extra settings (e.g. β), shown by <see cref="ToString"/>.</summary>
    public string? Detail { get; init; }

    /// <summary>Free-text provenance (where the coefficients came from).</summary>
    public string? Source { get; init; }

    /// <summary>This recipe's method as the registry describes it (names, parameters, path, streaming factory).</summary>
    public MergeMethodDescriptor Descriptor => MethodRegistry.Of(Method);

    /// <summary>True for the methods the fused dequantize-accumulate path computes in one pass (the task arithmetic family).</summary>
    public bool IsFused => Descriptor.IsFused;

    /// <summary>True for the methods that build one task's model: <see cref="Task"/> names it.</summary>
    public static bool BuildsOneTask(MergeMethod method) => MethodRegistry.Of(method).ServesOneTask;

    /// <summary>The coefficient on the merged vector, the method's default when <see cref="Lambda"/> is null.</summary>
    public float EffectiveLambda => Lambda ?? DefaultLambdaOf(Method);

    /// <summary>The tasks this recipe reads, in order: a non-zero coefficient, or any per-tensor coefficient.</summary>
    public IReadOnlyList<string> SelectedTasks =>
        Coefficients.Where(kv => kv.Value != 0f || TensorCoefficients?.ContainsKey(kv.Key) == true).Select(kv => kv.Key).ToList();

    /// <summary>The method's coefficient on the merged vector when none is given.</summary>
    public static float DefaultLambdaOf(MergeMethod method) => MethodRegistry.Of(method).DefaultLambda;

    /// <summary>
    /// The recipe that builds task <paramref name="task"/>'s model: for methods that serve one task the served task
    /// changes; every other method gives one model for all its tasks and is returned as it is.
    /// </summary>
    public MergeRecipe ForTask(string task) => Descriptor.ForTask(this, task);

    /// <summary>
    /// Parses a coefficient typed by a person (a command line, a serve command): invariant culture, an optional sign,
    /// decimal point and exponent, nothing else (no thousands separators, so "0,3" is refused rather than read as 3), and
    /// finite as a float32 ("NaN", "inf" and 1e39 are refused). <paramref name="what"/> names it in the error.
    /// </summary>
    public static float ParseCoefficient(string text, string what)
    {
        if (!double.TryParse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent,
                CultureInfo.InvariantCulture, out double value))
            throw new ArgumentException($"{what} '{text}' is not a number (write it like 0.3 or 3e-1; no thousands separators)");
        return CheckFinite(value, what);
    }

    /// <summary>The value as a float32 if it is finite there (|v| ≤ 3.4e38), else an <see cref="ArgumentException"/> naming <paramref name="what"/>.</summary>
    public static float CheckFinite(double value, string what)
    {
        float f = (float)value;
        if (!float.IsFinite(f))
            throw new ArgumentException($"{what} is {value.ToString(CultureInfo.InvariantCulture)}; it must be a finite number (|x| ≤ {float.MaxValue.ToString(CultureInfo.InvariantCulture)})");
        return f;
    }

    /// <summary>
    /// Refuses a recipe holding a non-finite number anywhere (coefficients, per-tensor coefficients, λ, k, β, γ, p): a
    /// NaN or infinite coefficient would serve a model whose every output is NaN. Every merge checks its recipe so.
    /// </summary>
    public void CheckFinite()
    {
        foreach (var (task, c) in Coefficients) CheckFinite(c, $"the coefficient of task '{task}'");
        foreach (var (task, byTensor) in TensorCoefficients ?? new Dictionary<string, IReadOnlyDictionary<string, float>>())
            foreach (var (tensor, c) in byTensor) CheckFinite(c, $"the coefficient of task '{task}' on tensor '{tensor}'");
        if (Lambda is { } l) CheckFinite(l, "λ");
        CheckFinite(TopK, "k");
        CheckFinite(BreadcrumbsBeta, "β");
        CheckFinite(BreadcrumbsGamma, "γ");
        CheckFinite(TallLambda, "the TALL λ");
        CheckFinite(DropRate, "p");
    }

    public static MergeRecipe Individual(string task) => new(MergeMethod.Individual, new Dictionary<string, float> { [task] = 1f }) { Task = task };

    public static MergeRecipe TaskArithmetic(IEnumerable<string> tasks, float lambda = DefaultLambda)
    {
        CheckFinite(lambda, "λ");
        return new(MergeMethod.TaskArithmetic, tasks.ToDictionary(t => t, _ => lambda));
    }

    /// <summary>
    /// LiNeS on task arithmetic (paper defaults: α = 1/T, β = 0.5): tensors whose name holds block l of L (pattern
    /// <paramref name="blockPattern"/>, L = 1 + the largest block index among <paramref name="tensorNames"/>) are
    /// scaled by α + β·l/(L − 1), others by α.
    /// </summary>
    public static MergeRecipe LiNeS(IReadOnlyCollection<string> tasks, IEnumerable<string> tensorNames, float beta = Methods.LiNeS.DefaultBeta,
        string blockPattern = Methods.LiNeS.DefaultBlockPattern, float? alpha = null)
    {
        CheckFinite(beta, "LiNeS β");
        if (alpha is { } givenAlpha) CheckFinite(givenAlpha, "LiNeS α");
        int numBlocks = 1 + tensorNames.Select(n => Methods.LiNeS.BlockIndex(n, blockPattern)).DefaultIfEmpty(-1).Max();
        float a = alpha ?? 1f / tasks.Count;
        return new MergeRecipe(MergeMethod.LiNeS, tasks.ToDictionary(t => t, _ => 1f))
        {
            TensorScale = name => Methods.LiNeS.Scale(Methods.LiNeS.BlockIndex(name, blockPattern), numBlocks, a, beta),
            Detail = $"α={(alpha is null ? $"1/{tasks.Count}" : a.ToString("G3", CultureInfo.InvariantCulture))}, β={beta.ToString("G3", CultureInfo.InvariantCulture)}, {numBlocks} blocks",
        };
    }

    /// <summary>A recipe of <paramref name="method"/> over <paramref name="tasks"/> with the method's defaults.</summary>
    public static MergeRecipe Of(MergeMethod method, IEnumerable<string> tasks, string? task = null) =>
        MethodRegistry.Of(method).Defaults(tasks.ToList(), task);

    /// <summary>The JSON name of a method (recipe files, <c>--merge</c>).</summary>
    public static string NameOf(MergeMethod method) => MethodRegistry.Of(method).Name;

    /// <summary>Every method's JSON name, for error messages and help.</summary>
    public static IReadOnlyList<string> MethodNames => MethodRegistry.Names;

    /// <summary>Parses a method name (names and aliases of <see cref="MethodRegistry"/>, e.g. "ta"); null when unknown.</summary>
    public static MergeMethod? ParseMethod(string name) => MethodRegistry.Find(name)?.Method;

    public override string ToString() => Descriptor.Describe(this);
}
