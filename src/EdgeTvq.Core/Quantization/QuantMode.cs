namespace EdgeTvq.Quantization;

/// <summary>How the affine parameters of Eq. 1 are computed and how Eq. 2 is evaluated.</summary>
public enum QuantMode : byte
{
    /// <summary>
    /// EdgeTvq's mode: Eq. 1 evaluated in float64 with the step Δ rounded once to float32, an integer
    /// zero point, and x̂ = Δ·(q − z). The error is at most Δ/2 everywhere; constant tensors are exact.
    /// </summary>
    Default = 0,

    /// <summary>
    /// Value-for-value compatible with the paper authors' released code (float32, one operation at a
    /// time): s = (1/range)·(2^b − 1), z = −round(s·min), q = clamp(round(s·x + z)), x̂ = (q − z)/s.
    /// The stored "scale" is s (levels per unit) and dequantization divides.
    /// </summary>
    Reference = 1,
}
