namespace EdgeTvq.Merging.Streaming;

/// <summary>
/// EMR-Merging on the stream (<see cref="Methods.EmrMerging"/>), building the model of one served task s:
/// flag = sign(Σ_t τ_t) (0 → −1), m_t = τ_t·flag &gt; 0, τ_uni = flag·max_t |m_t ∘ τ_t|, all per entry.
/// Pass 0 sums, per task, the per-tensor means of |τ_t| and of |m_t ∘ τ_uni| (the rescaler
/// r_t = Σ_n mean|τ_t,n| / Σ_n mean|m_t,n ∘ τ_uni,n| needs every tensor); the merge pass recomputes τ_uni and m_s per
/// tensor and writes Δ = r_s·(m_s ∘ τ_uni). Memory: one tensor's τ_uni and two scalars per task.
/// </summary>
internal sealed class EmrStreaming(int served) : StreamingMethod
{
    private double[] _numerator = [], _denominator = [];
    private float[] _uni = [];

    public override int StatisticPasses => Rescalers.Length == 0 ? 1 : 0;

    /// <summary>The rescalers r_t after pass 0, or given (from a <see cref="MergeCache"/>) so that no statistics pass runs.</summary>
    public float[] Rescalers { get; set; } = [];

    /// <summary>τ_uni of the tensor into <see cref="_uni"/>; sum[i] is accumulated exactly as Table.Sum does.</summary>
    private Span<float> Unify(TaskVectors tau)
    {
        int len = tau.Length;
        if (_uni.Length < len) _uni = new float[len];
        var uni = _uni.AsSpan(0, len);
        uni.Clear();
        for (int t = 0; t < tau.Count; t++) System.Numerics.Tensors.TensorPrimitives.Add(uni, tau[t], uni); // Σ_t τ_t
        var buffers = tau.Buffers;
        for (int i = 0; i < len; i++)
        {
            float flag = uni[i] > 0 ? 1f : -1f;
            float max = 0f;
            for (int t = 0; t < tau.Count; t++)
            {
                float v = buffers[t][i];
                if (v * flag > 0) max = MathF.Max(max, MathF.Abs(v));
            }
            uni[i] = flag * max;
        }
        return uni;
    }

    /// <summary>m_t[i] = τ_t[i]·flag &gt; 0.</summary>
    private static bool Mask(float tau, float flag) => tau * flag > 0;

    /// <summary>The flag from τ_uni = flag·max: its sign, including the sign of a zero (±0 where no task agrees).</summary>
    private static float Flag(float uni) => uni > 0 || (uni == 0 && !float.IsNegative(uni)) ? 1f : -1f;

    public override void Observe(int pass, in TensorInfo tensor, TaskVectors tau)
    {
        if (_numerator.Length == 0) (_numerator, _denominator) = (new double[tau.Count], new double[tau.Count]);
        if (tensor.Length == 0) return;
        var uni = Unify(tau);
        for (int t = 0; t < tau.Count; t++)
        {
            var v = tau[t];
            double tauAbs = 0, uniAbs = 0;
            for (int i = 0; i < v.Length; i++)
            {
                tauAbs += MathF.Abs(v[i]);
                if (Mask(v[i], Flag(uni[i]))) uniAbs += MathF.Abs(uni[i]);
            }
            _numerator[t] += tauAbs / v.Length;
            _denominator[t] += uniAbs / v.Length;
        }
    }

    public override void EndPass(int pass)
    {
        Rescalers = new float[_numerator.Length];
        for (int t = 0; t < Rescalers.Length; t++) Rescalers[t] = _denominator[t] == 0 ? 0f : (float)(_numerator[t] / _denominator[t]);
    }

    public override void Merge(in TensorInfo tensor, TaskVectors tau, Span<float> delta)
    {
        if (tensor.Length == 0) return;
        var uni = Unify(tau);
        var v = tau[served];
        float r = Rescalers[served];
        for (int i = 0; i < delta.Length; i++)
            delta[i] = Mask(v[i], Flag(uni[i])) ? r * uni[i] : 0f;
    }
}
