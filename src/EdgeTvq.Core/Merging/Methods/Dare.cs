namespace EdgeTvq.Merging.Methods;

/// <summary>
/// DARE (Yu et al. 2024): drop and rescale, τ̃_t = (m_t ∘ τ_t)/(1 − p) with m_t ~ Bernoulli(1 − p), p = 0.5,
/// then task arithmetic or TIES. The masks are injected ([tensor][task], true = keep) so results are reproducible.
/// </summary>
public static class Dare
{
    public const double DefaultP = 0.5;

    /// <summary>The rescaled table τ̃ = (m ∘ τ)/(1 − p).</summary>
    public static IReadOnlyList<TaskTensor> DropAndRescale(IReadOnlyList<TaskTensor> table, IReadOnlyList<bool[][]> masks, double p = DefaultP)
    {
        int tasks = Table.Validate(table);
        if (p is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(p), "p must lie in [0, 1)");
        if (masks.Count != table.Count) throw new ArgumentException("one mask set per tensor");
        float scale = (float)(1.0 / (1.0 - p));
        var result = new TaskTensor[table.Count];
        for (int n = 0; n < table.Count; n++)
        {
            if (masks[n].Length != tasks) throw new ArgumentException($"tensor '{table[n].Name}': one mask per task");
            var tau = new float[tasks][];
            for (int t = 0; t < tasks; t++)
            {
                var m = masks[n][t];
                var src = table[n].Tau[t];
                if (m.Length != src.Length) throw new ArgumentException($"tensor '{table[n].Name}': mask length differs");
                tau[t] = new float[src.Length];
                for (int i = 0; i < src.Length; i++) tau[t][i] = m[i] ? src[i] * scale : 0f;
            }
            result[n] = table[n] with { Tau = tau };
        }
        return result;
    }

    /// <summary>DARE followed by task arithmetic: Δ = λ Σ_t τ̃_t.</summary>
    public static float[][] TaskArithmetic(IReadOnlyList<TaskTensor> table, IReadOnlyList<bool[][]> masks,
        double p = DefaultP, float lambda = Methods.TaskArithmetic.DefaultLambda) =>
        Methods.TaskArithmetic.Merge(DropAndRescale(table, masks, p), lambda);

    /// <summary>DARE followed by TIES (disjoint mean by default): TIES-Merging of τ̃.</summary>
    public static float[][] Ties(IReadOnlyList<TaskTensor> table, IReadOnlyList<bool[][]> masks, double p = DefaultP,
        double k = TiesMerging.DefaultK, float lambda = TiesMerging.DefaultLambda) =>
        TiesMerging.Merge(DropAndRescale(table, masks, p), k, lambda);

    /// <summary>Bernoulli(1 − p) keep-masks, [tensor][task], drawn from <paramref name="rng"/>.</summary>
    public static bool[][][] BernoulliMasks(IReadOnlyList<TaskTensor> table, Random rng, double p = DefaultP)
    {
        int tasks = Table.Validate(table);
        var masks = new bool[table.Count][][];
        for (int n = 0; n < table.Count; n++)
        {
            masks[n] = new bool[tasks][];
            for (int t = 0; t < tasks; t++)
            {
                masks[n][t] = new bool[table[n].Length];
                for (int i = 0; i < masks[n][t].Length; i++) masks[n][t][i] = rng.NextDouble() >= p;
            }
        }
        return masks;
    }
}
