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
    private float[] _uni = [], _flag = [];

    public override int StatisticPasses => Rescalers.Length == 0 ? 1 : 0;

    /// <summary>The rescalers r_t after pass 0, or given (from a <see cref="MergeCache"/>) so that no statistics pass runs.</summary>
    public float[] Rescalers { get; set; } = [];

    /// <summary>
    /// τ_uni of the tensor into <see cref="_uni"/> and the flags into <see cref="_flag"/>; Σ_t τ_t is accumulated as
    /// Table.Sum does. The loops avoid data-dependent branches (masks are random): where an entry is not selected they
    /// combine with 0, which leaves a maximum of non-negative values or a sum of them unchanged, bit for bit.
    /// </summary>
    private void Unify(TaskVectors tau)
    {
        int len = tau.Length;
        if (_uni.Length < len) (_uni, _flag) = (new float[len], new float[len]);
        var uni = _uni.AsSpan(0, len);
        var flags = _flag.AsSpan(0, len);
        uni.Clear();
        for (int t = 0; t < tau.Count; t++) System.Numerics.Tensors.TensorPrimitives.Add(uni, tau[t], uni); // Σ_t τ_t
        var buffers = tau.Buffers;
        for (int i = 0; i < len; i++)
        {
            float flag = uni[i] > 0 ? 1f : -1f;
            float max = 0f;
            for (int t = 0; t < buffers.Length; t++)
            {
                float v = buffers[t][i];
                max = MathF.Max(max, v * flag > 0 ? MathF.Abs(v) : 0f);
            }
            flags[i] = flag;
            uni[i] = flag * max;
        }
    }

    public override void Observe(int pass, in TensorInfo tensor, TaskVectors tau)
    {
        if (_numerator.Length == 0) (_numerator, _denominator) = (new double[tau.Count], new double[tau.Count]);
        if (tensor.Length == 0) return;
        Unify(tau);
        var (uni, flags) = (_uni, _flag);
        for (int t = 0; t < tau.Count; t++)
        {
            var v = tau[t];
            double tauAbs = 0, uniAbs = 0;
            for (int i = 0; i < v.Length; i++)
            {
                tauAbs += MathF.Abs(v[i]);
                uniAbs += v[i] * flags[i] > 0 ? MathF.Abs(uni[i]) : 0f; // m_t ∘ τ_uni
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
        Unify(tau);
        var (uni, flags) = (_uni, _flag);
        var v = tau[served];
        float r = Rescalers[served];
        for (int i = 0; i < delta.Length; i++)
            delta[i] = v[i] * flags[i] > 0 ? r * uni[i] : 0f; // r_s·(m_s ∘ τ_uni)
    }
}
