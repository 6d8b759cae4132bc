namespace EdgeTvq.Merging.Methods;

/// <summary>
/// TALL masks and Consensus merging (Wang et al. 2024): with τ_MTL = Σ_t τ_t,
/// m_t = |τ_t| &gt; λ_t·|τ_MTL − τ_t| (strict; λ_t = 0.6 as FusionBench fixes it), keep = Σ_t m_t ≥ k (k = 2),
/// and Consensus TA Δ = α·(τ_MTL ∘ keep) with α = 0.3 (the task-arithmetic coefficient; tuned in the paper).
/// </summary>
public static class ConsensusMerging
{
    public const float DefaultLambda = 0.6f;
    public const int DefaultK = 2;
    public const float DefaultAlpha = 0.3f;

    /// <summary>TALL masks m_t per tensor, [tensor][task]; <paramref name="lambdas"/> gives λ_t per task (default 0.6 each).</summary>
    public static bool[][][] TallMasks(IReadOnlyList<TaskTensor> table, IReadOnlyList<float>? lambdas = null)
    {
        int tasks = Table.Validate(table);
        if (lambdas is not null && lambdas.Count != tasks) throw new ArgumentException("one λ_t per task");
        var masks = new bool[table.Count][][];
        for (int n = 0; n < table.Count; n++)
        {
            var merged = Table.Sum(table[n]);
            masks[n] = new bool[tasks][];
            for (int t = 0; t < tasks; t++)
            {
                float lambda = lambdas?[t] ?? DefaultLambda;
                var tau = table[n].Tau[t];
                var m = masks[n][t] = new bool[tau.Length];
                for (int i = 0; i < tau.Length; i++) m[i] = MathF.Abs(tau[i]) > lambda * MathF.Abs(merged[i] - tau[i]);
            }
        }
        return masks;
    }

    /// <summary>Consensus TA: Δ = α·(τ_MTL ∘ [Σ_t m_t ≥ k]).</summary>
    public static float[][] Merge(IReadOnlyList<TaskTensor> table, float alpha = DefaultAlpha, int k = DefaultK,
        IReadOnlyList<float>? lambdas = null)
    {
        var masks = TallMasks(table, lambdas);
        var delta = new float[table.Count][];
        for (int n = 0; n < table.Count; n++)
        {
            var merged = Table.Sum(table[n]);
            for (int i = 0; i < merged.Length; i++)
            {
                int votes = 0;
                foreach (var m in masks[n]) if (m[i]) votes++;
                merged[i] = votes >= k ? alpha * merged[i] : 0f;
            }
            delta[n] = merged;
        }
        return delta;
    }
}
