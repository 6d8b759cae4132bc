namespace EdgeTvq.Quantization;

/// <summary>
/// Per-tensor parameters of the asymmetric uniform quantizer (paper Eq. 1–2).
/// <para>Default mode: <see cref="Scale"/> is the step Δ and x̂ = Δ·(q − z).</para>
/// <para>Reference mode: <see cref="Scale"/> is s = 1/Δ (levels per unit) and x̂ = (q − z)/s.</para>
/// <see cref="ZeroPoint"/> is integer-valued in both modes (it may lie outside [0, 2^b − 1]).
/// </summary>
public readonly record struct QuantParams(int Bits, float Scale, float ZeroPoint, QuantMode Mode)
{
    /// <summary>Largest code, 2^b − 1.</summary>
    public int MaxCode => (1 << Bits) - 1;

    /// <summary>Width of one quantization step in the tensor's units.</summary>
    public double Step => Mode == QuantMode.Reference ? 1.0 / Scale : Scale;

    /// <summary>Eq. 2 for a single code, evaluated exactly as the kernels do.</summary>
    public float Dequantize(int code) => Mode == QuantMode.Reference
        ? (code - ZeroPoint) / Scale
        : Scale * (code - ZeroPoint);
}
