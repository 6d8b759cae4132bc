using System.Numerics.Tensors;
using EdgeTvq.Format;
using EdgeTvq.Quantization;

namespace EdgeTvq.Bundle;

/// <summary>
/// The three storage schemes for one tensor, written as the paper states them (all arithmetic float32,
/// element by element, so results do not depend on SIMD width):
/// <code>
///   FQ   :  τ̂_t = Q(θ_t, b) − θ_pre
///   TVQ  :  τ_t = θ_t − θ_pre,  τ̂_t = Q(τ_t, b)                                          (Sec. 4.2)
///   RTVQ :  θ_avg = (1/T) Σ_t θ_t,  base = θ_avg − θ_pre                                    (Alg. 1, lines 1–2)
///           θ_ec = Q(base, b_b) + θ_pre  (error correction, Eq. 6)   or  θ_avg  (without)    (line 3)
///           offset_t = θ_t − θ_ec,  τ̂_t = Q(offset_t, b_o) + Q(base, b_b)                    (lines 4–5)
/// </code>
/// Each method fills τ̂ so the packer can measure the quantization error it stores in the manifest.
/// </summary>
public static class TaskVectorSchemes
{
    /// <summary>FQ: the codes quantize θ_t itself.</summary>
    public static QuantizedTensor Fq(ReadOnlySpan<float> pre, ReadOnlySpan<float> finetuned, int bits, QuantMode mode, Span<float> tauHat, string tensor, string file)
    {
        var q = QuantizedTensor.Quantize(finetuned, bits, mode, tauHat, tensor, file);
        TensorPrimitives.Subtract(tauHat, pre, tauHat);
        return q;
    }

    /// <summary>TVQ: the codes quantize τ_t = θ_t − θ_pre.</summary>
    public static QuantizedTensor Tvq(ReadOnlySpan<float> pre, ReadOnlySpan<float> finetuned, int bits, QuantMode mode, Span<float> scratch, Span<float> tauHat, string tensor, string file)
    {
        TensorPrimitives.Subtract(finetuned, pre, scratch);
        return QuantizedTensor.Quantize(scratch, bits, mode, tauHat, tensor, file);
    }

    /// <summary>RTVQ lines 1–3: θ_avg, the quantized base and the reference θ_ec that offsets are taken against.</summary>
    public static QuantizedTensor RtvqBase(ReadOnlySpan<float> pre, IReadOnlyList<float[]> finetuned, int baseBits, bool errorCorrection, QuantMode mode,
        Span<float> baseHat, Span<float> offsetReference, string tensor, string file)
    {
        // θ_avg = (Σ_t θ_t) / T, summed in task order.
        Span<float> avg = offsetReference;
        finetuned[0].CopyTo(avg);
        for (int t = 1; t < finetuned.Count; t++) TensorPrimitives.Add(avg, finetuned[t], avg);
        TensorPrimitives.Divide(avg, (float)finetuned.Count, avg);

        var baseVector = new float[pre.Length];
        TensorPrimitives.Subtract(avg, pre, baseVector);
        var q = QuantizedTensor.Quantize(baseVector, baseBits, mode, baseHat, tensor, file);
        if (errorCorrection) TensorPrimitives.Add(baseHat, pre, offsetReference); // θ_ec = Q(base) + θ_pre
        return q;                                                                   // else θ_avg stays
    }

    /// <summary>
    /// RTVQ lines 4–5 for one task: offset_t = θ_t − θ_ec, τ̂_t = Q(offset_t) + Q(base). <paramref name="offsetReference"/>
    /// is θ_ec (or θ_avg without error correction) from <see cref="RtvqBase"/>.
    /// </summary>
    public static QuantizedTensor RtvqOffset(ReadOnlySpan<float> finetuned, ReadOnlySpan<float> offsetReference, ReadOnlySpan<float> baseHat, int offsetBits, QuantMode mode,
        Span<float> scratch, Span<float> tauHat, string tensor, string file)
    {
        TensorPrimitives.Subtract(finetuned, offsetReference, scratch);
        var q = QuantizedTensor.Quantize(scratch, offsetBits, mode, tauHat, tensor, file);
        TensorPrimitives.Add(tauHat, baseHat, tauHat);
        return q;
    }

    public static int TaskBits(Scheme scheme, int? bits, int? offsetBits) => scheme == Scheme.Rtvq ? offsetBits!.Value : bits!.Value;
}
