namespace EdgeTvq.Merging.Methods;

/// <summary>How TIES aggregates the entries that agree with the elected sign.</summary>
public enum DisjointAggregation
{
    /// <summary>Disjoint mean: Σ kept / max(1, #kept) (paper, tall_masks; λ = 1).</summary>
    Mean,
    /// <summary>Disjoint sum: Σ kept (AdaMerging, EMR, FusionBench; λ = 0.3).</summary>
    Sum,
}

/// <summary>
/// TIES-Merging (Yadav et al. 2023), following the reference code (prateeky2806/ties-merging, nik-dim/tall_masks):
/// <list type="number">
/// <item>Trim: per task over the whole flattened vector (tensors sorted by name, concatenated; d entries),
/// kth = kthvalue(|τ_t|, d − int(d·K)) (1-based k-th smallest) and keep |τ_t| ≥ kth — int(d·K)+1 entries plus ties.</item>
/// <item>Elect: γ = sign(Σ_t τ̂_t); where γ = 0, γ ← sign(Σ γ) (the majority of the elected signs over all entries).</item>
/// <item>Disjoint merge: keep τ̂_t where γ &gt; 0 ? τ̂_t &gt; 0 : τ̂_t &lt; 0, then mean (Σ / max(1, count)) or sum; Δ = λ·that.</item>
/// </list>
/// </summary>
public static class TiesMerging
{
    public const double DefaultK = 0.2;
    public const float DefaultLambda = 1f;
    public const float DefaultDisSumLambda = 0.3f;

    /// <summary>TIES with disjoint mean (default λ = 1) or disjoint sum (pass λ, 0.3 in the dis-sum literature).</summary>
    /// <param name="k">Fraction of entries kept per task; values &gt; 1 are percentages (20 → 0.2).</param>
    public static float[][] Merge(IReadOnlyList<TaskTensor> table, double k = DefaultK, float lambda = DefaultLambda,
        DisjointAggregation aggregation = DisjointAggregation.Mean)
    {
        int tasks = Table.Validate(table);
        if (table.Count == 0) return [];
        var order = Table.SortedByName(table);
        int d = 0;
        foreach (var t in table) d = checked(d + t.Length);

        // Flattened, trimmed task vectors τ̂_t.
        var trimmed = new float[tasks][];
        for (int t = 0; t < tasks; t++)
        {
            var flat = new float[d];
            int at = 0;
            foreach (int n in order) { table[n].Tau[t].CopyTo(flat, at); at += table[n].Length; }
            Trim(flat, k);
            trimmed[t] = flat;
        }

        var gamma = ElectSigns(trimmed);

        var merged = new float[d];
        for (int i = 0; i < d; i++)
        {
            float sum = 0f;
            int count = 0;
            for (int t = 0; t < tasks; t++)
            {
                float v = trimmed[t][i];
                if (gamma[i] > 0 ? v > 0 : v < 0) { sum += v; count++; }
            }
            merged[i] = lambda * (aggregation == DisjointAggregation.Mean ? sum / Math.Max(1, count) : sum);
        }

        var delta = new float[table.Count][];
        int offset = 0;
        foreach (int n in order)
        {
            delta[n] = merged.AsSpan(offset, table[n].Length).ToArray();
            offset += table[n].Length;
        }
        return delta;
    }

    /// <summary>TIES with disjoint sum, Δ = λ Σ kept, λ = 0.3.</summary>
    public static float[][] MergeDisSum(IReadOnlyList<TaskTensor> table, double k = DefaultK, float lambda = DefaultDisSumLambda) =>
        Merge(table, k, lambda, DisjointAggregation.Sum);

    /// <summary>
    /// topk_values_mask in place: kth = kthvalue(|M|, d − int(d·K)); zero entries with |M| &lt; kth.
    /// When d − int(d·K) ≤ 0 (K = 100%) everything is kept.
    /// </summary>
    public static void Trim(Span<float> m, double k)
    {
        if (k > 1) k /= 100;
        int d = m.Length;
        int rank = d - (int)(d * k);
        if (rank <= 0 || d == 0) return;
        var abs = new float[d];
        for (int i = 0; i < d; i++) abs[i] = MathF.Abs(m[i]);
        Array.Sort(abs);
        float kth = abs[rank - 1];
        for (int i = 0; i < d; i++)
            if (!(MathF.Abs(m[i]) >= kth)) m[i] = 0f;
    }

    /// <summary>γ = sign(Σ_t τ̂_t), zeros resolved to sign(Σ_i γ_i) (which may itself be 0).</summary>
    public static float[] ElectSigns(IReadOnlyList<float[]> trimmed)
    {
        int d = trimmed[0].Length;
        var gamma = new float[d];
        double majority = 0;
        for (int i = 0; i < d; i++)
        {
            float s = 0f;
            foreach (var tau in trimmed) s += tau[i];
            gamma[i] = MathF.Sign(s);
            majority += gamma[i];
        }
        float fallback = Math.Sign(majority);
        for (int i = 0; i < d; i++)
            if (gamma[i] == 0) gamma[i] = fallback;
        return gamma;
    }
}
