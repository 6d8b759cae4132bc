namespace EdgeTvq.Merging.Methods;

/// <summary>
/// Model Breadcrumbs (Davari &amp; Belilovsky 2024): per tensor, along the last dimension (each row of a 2-D tensor,
/// the whole of a 1-D one; n = shape[−1]), rank entries by |τ_t| descending, drop the top int(n·γ) outliers and keep
/// the next int(n·β); scalars are kept whole. Δ = α Σ_t (m_t ∘ τ_t), α = 0.2, β = 0.15, γ = 0.006.
/// Equal magnitudes rank by position (the earlier entry ranks higher).
/// </summary>
public static class Breadcrumbs
{
    public const float DefaultAlpha = 0.2f;
    public const double DefaultBeta = 0.15;
    public const double DefaultGamma = 0.006;

    public static float[][] Merge(IReadOnlyList<TaskTensor> table, float alpha = DefaultAlpha,
        double beta = DefaultBeta, double gamma = DefaultGamma)
    {
        Table.Validate(table);
        var delta = new float[table.Count][];
        for (int n = 0; n < table.Count; n++)
        {
            var tensor = table[n];
            var sum = new float[tensor.Length];
            foreach (var tau in tensor.Tau)
            {
                var mask = Mask(tau, tensor.Shape, beta, gamma);
                for (int i = 0; i < sum.Length; i++)
                    if (mask[i]) sum[i] += tau[i];
            }
            for (int i = 0; i < sum.Length; i++) sum[i] *= alpha;
            delta[n] = sum;
        }
        return delta;
    }

    /// <summary>The breadcrumbs mask of one task vector of the given shape (true = kept).</summary>
    public static bool[] Mask(ReadOnlySpan<float> tau, long[] shape, double beta = DefaultBeta, double gamma = DefaultGamma)
    {
        var mask = new bool[tau.Length];
        if (shape.Length == 0) { Array.Fill(mask, true); return mask; }
        int n = (int)shape[^1];
        if (n == 0) return mask;
        int drop = (int)(n * gamma), keep = (int)(n * beta);
        var idx = new int[n];
        var key = new float[n];
        for (int row = 0; row + n <= tau.Length; row += n)
        {
            for (int j = 0; j < n; j++) { idx[j] = j; key[j] = -MathF.Abs(tau[row + j]); }
            // Stable: sort (−|τ|, position) so equal magnitudes keep their order.
            Array.Sort(idx, (a, b) => key[a] != key[b] ? key[a].CompareTo(key[b]) : a.CompareTo(b));
            for (int r = drop; r < Math.Min(n, drop + keep); r++) mask[row + idx[r]] = true;
        }
        return mask;
    }
}
