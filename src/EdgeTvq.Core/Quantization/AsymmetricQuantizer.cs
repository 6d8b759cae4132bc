namespace EdgeTvq.Quantization;

/// <summary>
/// Per-tensor asymmetric uniform quantization, paper Eq. 1–2:
/// <code>
///   θ^q = clamp(Round(θ/Δ) + z, 0, 2^b − 1),   Δ = (θmax − θmin)/(2^b − 1),   z = −Round(θmin/Δ)   (Eq. 1)
///   θ̂   = Δ·(θ^q − z)                                                                          (Eq. 2)
/// </code>
/// Codes are produced one byte per element; <see cref="Packing.BitPacking"/> packs them densely.
/// This file is the scalar reference that every SIMD kernel is tested against.
/// </summary>
public static class AsymmetricQuantizer
{
    public const int MinBits = 1;
    public const int MaxBits = 8;

    /// <summary>
    /// Chooses Δ (or s) and z for <paramref name="range"/>. Tensors of range 0 — and ranges so small that
    /// the step underflows float32 — become <see cref="QuantPlanKind.Constant"/> and are reproduced exactly
    /// (or to within the range). The authors' code divides by zero here; both modes guard it.
    /// </summary>
    public static QuantPlan Plan(TensorRange range, long elementCount, int bits, QuantMode mode)
    {
        if (bits is < MinBits or > MaxBits)
            throw new ArgumentOutOfRangeException(nameof(bits), bits, "bit width must be between 1 and 8");
        if (elementCount == 0) return QuantPlan.Empty(bits, mode);
        if (range.Min == range.Max) return QuantPlan.Constant(bits, mode, range.Min);

        int levels = (1 << bits) - 1;
        float midpoint = (float)(((double)range.Min + range.Max) / 2);
        if (mode == QuantMode.Reference)
        {
            // Their code, operation by operation in float32: scale = (1/range) * (2^b − 1); zp = −round(scale·min).
            float width = range.Max - range.Min;
            float scale = (1f / width) * levels;
            if (!float.IsFinite(scale) || scale == 0f) return QuantPlan.Constant(bits, mode, midpoint);
            float zeroPoint = -MathF.Round(scale * range.Min);
            return new QuantPlan(QuantPlanKind.Affine, new QuantParams(bits, scale, zeroPoint, mode), 0f);
        }
        else
        {
            // Δ from the exact range in float64, rounded once to float32; z from that stored Δ, so that the
            // grid Δ·(q − z), q ∈ [0, 2^b − 1], reaches within Δ/2 of both ends of the range.
            float step = (float)(range.Width / levels);
            if (!float.IsNormal(step)) return QuantPlan.Constant(bits, mode, midpoint);
            double zeroPoint = Math.Round(-(double)range.Min / step);
            return new QuantPlan(QuantPlanKind.Affine, new QuantParams(bits, step, (float)zeroPoint, mode), 0f);
        }
    }

    /// <summary>Eq. 1: one code per element.</summary>
    public static void Quantize(ReadOnlySpan<float> x, in QuantParams p, Span<byte> codes)
    {
        if (codes.Length != x.Length) throw new ArgumentException("codes must have one byte per element", nameof(codes));
        int maxCode = p.MaxCode;
        if (p.Mode == QuantMode.Reference)
        {
            float scale = p.Scale, zp = p.ZeroPoint;
            for (int i = 0; i < x.Length; i++)
            {
                float scaled = scale * x[i];          // two separate float32 roundings, as PyTorch does
                float shifted = scaled + zp;
                float q = MathF.Round(shifted);      // round half to even
                codes[i] = (byte)Math.Clamp(q, 0f, maxCode);
            }
        }
        else
        {
            double step = p.Scale, zp = p.ZeroPoint;
            for (int i = 0; i < x.Length; i++)
            {
                double q = Math.Round(x[i] / step + zp);
                codes[i] = (byte)Math.Clamp(q, 0d, maxCode);
            }
        }
    }

    /// <summary>Eq. 2, scalar reference: x̂ = Δ·(q − z) (default) or (q − z)/s (reference).</summary>
    public static void Dequantize(ReadOnlySpan<byte> codes, in QuantParams p, Span<float> x)
    {
        if (codes.Length != x.Length) throw new ArgumentException("output must have one element per code", nameof(x));
        float scale = p.Scale, zp = p.ZeroPoint;
        if (p.Mode == QuantMode.Reference)
            for (int i = 0; i < codes.Length; i++) x[i] = (codes[i] - zp) / scale;
        else
            for (int i = 0; i < codes.Length; i++) x[i] = scale * (codes[i] - zp);
    }

    /// <summary>Quantizes and immediately dequantizes, the Q(·) of Algorithm 1.</summary>
    public static QuantPlan RoundTrip(ReadOnlySpan<float> x, int bits, QuantMode mode, Span<byte> codes, Span<float> xHat)
    {
        if (!TensorRange.TryCompute(x, out var range, out _))
            throw new ArgumentException("tensor holds NaN or infinite values", nameof(x));
        var plan = Plan(range, x.Length, bits, mode);
        switch (plan.Kind)
        {
            case QuantPlanKind.Affine:
                Quantize(x, plan.Params, codes);
                Dequantize(codes, plan.Params, xHat);
                break;
            case QuantPlanKind.Constant:
                codes.Clear();
                xHat.Fill(plan.ConstantValue);
                break;
        }
        return plan;
    }
}
