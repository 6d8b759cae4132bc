namespace EdgeTvq.Merging;

/// <summary>Which merged model to build from a bundle.</summary>
public enum MergeMethod
{
    /// <summary>The paper's "Individual": θ_pre + τ̂_t for one task.</summary>
    Individual,
    /// <summary>Task arithmetic: θ_pre + Σ_t λ_t τ̂_t (λ = 0.3 for every task by default).</summary>
    TaskArithmetic,
}

/// <summary>
/// A merge recipe: the method and the per-task coefficients λ_t. The coefficients are what the fused kernel
/// multiplies each task's (and, summed, the RTVQ base's) dequantized codes by.
/// </summary>
public sealed record MergeRecipe(MergeMethod Method, IReadOnlyDictionary<string, float> Coefficients)
{
    public const float DefaultLambda = 0.3f;

    public static MergeRecipe Individual(string task) => new(MergeMethod.Individual, new Dictionary<string, float> { [task] = 1f });

    public static MergeRecipe TaskArithmetic(IEnumerable<string> tasks, float lambda = DefaultLambda) =>
        new(MergeMethod.TaskArithmetic, tasks.ToDictionary(t => t, _ => lambda));

    public override string ToString() => Method == MergeMethod.Individual
        ? $"individual {Coefficients.Keys.Single()}"
        : $"task arithmetic ({string.Join(", ", Coefficients.Select(kv => $"{kv.Key} λ={kv.Value:G3}"))})";
}
