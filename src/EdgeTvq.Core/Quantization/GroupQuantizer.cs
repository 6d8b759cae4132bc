namespace EdgeTvq.Quantization;

/// <summary>
/// Group-wise quantization (format version 4, record kind 7), the scalar reference. Group g holds the elements
/// [g·G, min((g + 1)·G, E)):
/// <code>
///   affine (per group, Eq. 1–2):  Δ_g = (max_g − min_g)/(2^b − 1),  z_g = −Round(min_g/Δ_g),
///                                 q_i = clamp(Round(x_i/Δ_g) + z_g, 0, 2^b − 1),   x̂_i = Δ_g·(q_i − z_g)
///   sign (BitDelta, b = 1):       α_g = (1/|g|) Σ_{i∈g} |x_i|,  q_i = [x_i ≥ 0],   x̂_i = α_g·(2q_i − 1)
/// </code>
/// An affine group of range 0 (value v) is stored exactly with codes 0: Δ_g = |v|, z_g = −sign(v) (Δ_g = 1, z_g = 0
/// for v = 0), so Δ_g·(0 − z_g) = v. Always the default quantizer's form (the stored scale is the step).
/// </summary>
public static class GroupQuantizer
{
    /// <summary>Codes (one byte per element) and per-group parameters of <paramref name="x"/>, whose values must be finite.</summary>
    public static GroupedParams Quantize(ReadOnlySpan<float> x, int bits, int groupSize, GroupMode mode, Span<byte> codes)
    {
        if (codes.Length != x.Length) throw new ArgumentException("codes must have one byte per element", nameof(codes));
        if (groupSize < 1) throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize, "a group holds at least one element");
        int groups = (int)GroupedParams.GroupCount(x.Length, groupSize);
        var scales = new float[groups];
        var zeros = mode == GroupMode.Affine ? new float[groups] : null;
        for (int g = 0; g < groups; g++)
        {
            int start = g * groupSize, count = Math.Min(groupSize, x.Length - start);
            var xg = x.Slice(start, count);
            var qg = codes.Slice(start, count);
            if (mode == GroupMode.Sign)
            {
                double sum = 0;
                foreach (float v in xg) sum += Math.Abs(v);
                scales[g] = (float)(sum / count);
                for (int i = 0; i < count; i++) qg[i] = xg[i] >= 0f ? (byte)1 : (byte)0;
                continue;
            }
            if (!TensorRange.TryCompute(xg, out var range, out long bad))
                throw new ArgumentException($"element {start + bad} is NaN or infinite", nameof(x));
            var plan = AsymmetricQuantizer.Plan(range, count, bits, QuantMode.Default);
            if (plan.Kind == QuantPlanKind.Affine)
            {
                (scales[g], zeros![g]) = (plan.Params.Scale, plan.Params.ZeroPoint);
                QuantizeKernels.Quantize(xg, plan.Params, qg);
            }
            else
            {
                (scales[g], zeros![g]) = ConstantGroup(plan.ConstantValue);
                qg.Clear();
            }
        }
        return new GroupedParams(bits, mode, groupSize, scales, zeros);
    }

    /// <summary>(Δ, z) that reproduce <paramref name="v"/> exactly from code 0: Δ·(0 − z) = v.</summary>
    public static (float Step, float ZeroPoint) ConstantGroup(float v) =>
        v > 0f ? (v, -1f) : v < 0f ? (-v, 1f) : (1f, 0f);

    /// <summary>Scalar reference of the kernels: x̂_i = Δ_g·(q_i − z_g), or α_g·(2q_i − 1) = ±α_g for signs.</summary>
    public static void Dequantize(ReadOnlySpan<byte> codes, GroupedParams p, Span<float> x)
    {
        if (codes.Length != x.Length) throw new ArgumentException("output must have one element per code", nameof(x));
        for (int i = 0; i < codes.Length; i++)
        {
            int g = i / p.GroupSize;
            x[i] = p.Mode == GroupMode.Sign
                ? (codes[i] == 1 ? p.Scales[g] : -p.Scales[g])
                : p.Scales[g] * (codes[i] - p.ZeroPoints[g]);
        }
    }

    /// <summary>G for one scale per output row: the elements after the first dimension (the whole tensor below rank 2).</summary>
    public static int RowLength(ReadOnlySpan<long> shape)
    {
        long n = 1;
        for (int d = shape.Length >= 2 ? 1 : 0; d < shape.Length; d++) n = checked(n * shape[d]);
        return (int)Math.Max(1, n);
    }
}
