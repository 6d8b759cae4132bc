namespace EdgeTvq.Merging.Methods;

/// <summary>
/// EMR-Merging (Huang et al. 2024): a unified task vector plus per-task masks and rescalers.
/// flag = sign(mean_t τ_t) with 0 → −1; m_t = τ_t·flag &gt; 0; τ_uni = flag·max_t |m_t ∘ τ_t|;
/// r_t = Σ_n mean|τ_t,n| / Σ_n mean|m_t,n ∘ τ_uni,n| (per-tensor means, summed over tensors n);
/// task t's delta is r_t·(m_t ∘ τ_uni).
/// </summary>
public static class EmrMerging
{
    /// <summary>The EMR result: τ_uni per tensor, masks [tensor][task], rescalers r_t.</summary>
    public sealed record Result(float[][] TauUni, bool[][][] Masks, float[] Rescalers)
    {
        /// <summary>Task t's delta per tensor: r_t·(m_t ∘ τ_uni).</summary>
        public float[][] TaskDelta(int t)
        {
            var delta = new float[TauUni.Length][];
            for (int n = 0; n < TauUni.Length; n++)
            {
                delta[n] = new float[TauUni[n].Length];
                for (int i = 0; i < delta[n].Length; i++)
                    if (Masks[n][t][i]) delta[n][i] = Rescalers[t] * TauUni[n][i];
            }
            return delta;
        }
    }

    public static Result Merge(IReadOnlyList<TaskTensor> table)
    {
        int tasks = Table.Validate(table);
        var tauUni = new float[table.Count][];
        var masks = new bool[table.Count][][];
        var numerator = new double[tasks];
        var denominator = new double[tasks];
        for (int n = 0; n < table.Count; n++)
        {
            var taus = table[n].Tau;
            int len = table[n].Length;
            var sum = Table.Sum(table[n]);   // sign(mean) = sign(sum)
            var uni = tauUni[n] = new float[len];
            masks[n] = new bool[tasks][];
            for (int t = 0; t < tasks; t++) masks[n][t] = new bool[len];
            for (int i = 0; i < len; i++)
            {
                float flag = sum[i] > 0 ? 1f : -1f;
                float max = 0f;
                for (int t = 0; t < tasks; t++)
                    if (masks[n][t][i] = taus[t][i] * flag > 0) max = MathF.Max(max, MathF.Abs(taus[t][i]));
                uni[i] = flag * max;
            }
            if (len == 0) continue;
            for (int t = 0; t < tasks; t++)
            {
                double tauAbs = 0, uniAbs = 0;
                for (int i = 0; i < len; i++)
                {
                    tauAbs += MathF.Abs(taus[t][i]);
                    if (masks[n][t][i]) uniAbs += MathF.Abs(uni[i]);
                }
                numerator[t] += tauAbs / len;
                denominator[t] += uniAbs / len;
            }
        }
        var r = new float[tasks];
        for (int t = 0; t < tasks; t++) r[t] = denominator[t] == 0 ? 0f : (float)(numerator[t] / denominator[t]);
        return new Result(tauUni, masks, r);
    }
}
