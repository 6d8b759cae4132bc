namespace EdgeTvq.Merging;

/// <summary>Which merged model to build from a bundle.</summary>
public enum MergeMethod
{
    /// <summary>The paper's "Individual": θ_pre + τ̂_t for one task.</summary>
    Individual,
    /// <summary>Task arithmetic: θ_pre + Σ_t λ_t τ̂_t (λ = 0.3 for every task by default).</summary>
    TaskArithmetic,
    /// <summary>LiNeS on task arithmetic: θ_pre + s(l)·Σ_t τ̂_t with s(l) = 1/T + β·l/(L − 1) for block l (1/T outside blocks).</summary>
    LiNeS,
}

/// <summary>
/// A merge recipe: the method and the per-task coefficients λ_t. The coefficients are what the fused kernel
/// multiplies each task's (and, summed, the RTVQ base's) dequantized codes by.
/// </summary>
public sealed record MergeRecipe(MergeMethod Method, IReadOnlyDictionary<string, float> Coefficients)
{
    public const float DefaultLambda = 0.3f;

    /// <summary>Per-tensor factor on every task's coefficient (null: 1); LiNeS's layer scaling.</summary>
    public Func<string, float>? TensorScale { get; init; }

    /// <summary>Free text describing extra settings (e.g. β), shown by <see cref="ToString"/>.</summary>
    public string? Detail { get; init; }

    public static MergeRecipe Individual(string task) => new(MergeMethod.Individual, new Dictionary<string, float> { [task] = 1f });

    public static MergeRecipe TaskArithmetic(IEnumerable<string> tasks, float lambda = DefaultLambda) =>
        new(MergeMethod.TaskArithmetic, tasks.ToDictionary(t => t, _ => lambda));

    /// <summary>
    /// LiNeS on task arithmetic (paper defaults: α = 1/T, β = 0.5): tensors whose name holds block l of L (pattern
    /// <paramref name="blockPattern"/>, L = 1 + the largest block index among <paramref name="tensorNames"/>) are
    /// scaled by α + β·l/(L − 1), others by α.
    /// </summary>
    public static MergeRecipe LiNeS(IReadOnlyCollection<string> tasks, IEnumerable<string> tensorNames, float beta = Methods.LiNeS.DefaultBeta,
        string blockPattern = Methods.LiNeS.DefaultBlockPattern)
    {
        int numBlocks = 1 + tensorNames.Select(n => Methods.LiNeS.BlockIndex(n, blockPattern)).DefaultIfEmpty(-1).Max();
        float alpha = 1f / tasks.Count;
        return new MergeRecipe(MergeMethod.LiNeS, tasks.ToDictionary(t => t, _ => 1f))
        {
            TensorScale = name => Methods.LiNeS.Scale(Methods.LiNeS.BlockIndex(name, blockPattern), numBlocks, alpha, beta),
            Detail = $"α=1/{tasks.Count}, β={beta:G3}, {numBlocks} blocks",
        };
    }

    public override string ToString() => Method switch
    {
        MergeMethod.Individual => $"individual {Coefficients.Keys.Single()}",
        MergeMethod.LiNeS => $"LiNeS ({string.Join(", ", Coefficients.Keys)}; {Detail})",
        _ => $"task arithmetic ({string.Join(", ", Coefficients.Select(kv => $"{kv.Key} λ={kv.Value:G3}"))})",
    };
}
