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
/// Q is per tensor, or per group of G elements when a <see cref="Grouping"/> is given (format version 4).
/// Each method fills τ̂ so the packer can measure the quantization error it stores in the manifest.
/// </summary>
public static class TaskVectorSchemes
{
    /// <summary>FQ: the codes quantize θ_t itself; τ̂_t = Q(θ_t) − θ_pre goes to <paramref name="tauHat"/> block by block.</summary>
    public static QuantizedTensor Fq(ReadOnlyMemory<float> pre, ReadOnlyMemory<float> finetuned, int bits, QuantMode mode, QuantizedTensor.BlockSink tauHat,
        string tensor, string file, QuantizeBuffers buffers, Grouping? group = null) =>
        Q(pre.Length,
            (start, x) => finetuned.Span.Slice(start, x.Length).CopyTo(x),                                            // θ_t
            bits, mode, group,
            (start, q) => { TensorPrimitives.Subtract(q, pre.Span.Slice(start, q.Length), q); tauHat(start, q); },   // Q(θ_t) − θ_pre
            tensor, file, buffers);

    /// <summary>Q(x, b): one scale per tensor (streamed in blocks), or one per group when <paramref name="group"/> is given (format version 4).</summary>
    private static QuantizedTensor Q(int n, QuantizedTensor.BlockSource x, int bits, QuantMode mode, Grouping? group, QuantizedTensor.BlockSink sink,
        string tensor, string file, QuantizeBuffers buffers) =>
        group is { } g
            ? QuantizedTensor.QuantizeGrouped(n, x, bits, g, sink, tensor, file, buffers)
            : QuantizedTensor.QuantizeStreamed(n, x, bits, mode, sink, tensor, file, buffers);

    /// <summary>TVQ: the codes quantize τ_t = θ_t − θ_pre; τ̂_t = Q(τ_t) goes to <paramref name="tauHat"/> block by block.</summary>
    public static QuantizedTensor Tvq(ReadOnlyMemory<float> pre, ReadOnlyMemory<float> finetuned, int bits, QuantMode mode, QuantizedTensor.BlockSink tauHat,
        string tensor, string file, QuantizeBuffers buffers, Grouping? group = null) =>
        Q(pre.Length,
            (start, x) => TensorPrimitives.Subtract(finetuned.Span.Slice(start, x.Length), pre.Span.Slice(start, x.Length), x),  // τ_t
            bits, mode, group, tauHat, tensor, file, buffers);

    /// <summary>
    /// RTVQ lines 1–3: θ_avg, the quantized base and the reference θ_ec that offsets are taken against. Every step is
    /// element by element (Q's range aside, which is exact in any order), so it runs in blocks on up to
    /// <paramref name="threads"/> cores with the same result.
    /// </summary>
    public static QuantizedTensor RtvqBase(ReadOnlyMemory<float> pre, IReadOnlyList<ReadOnlyMemory<float>> finetuned, int baseBits, bool errorCorrection, QuantMode mode,
        Memory<float> baseHat, Memory<float> offsetReference, Memory<float> baseVector, string tensor, string file, QuantizeBuffers? buffers = null, int threads = 1,
        Grouping? group = null)
    {
        int n = pre.Length;
        QuantizedTensor.ForEachBlock(n, threads, (start, count) =>
        {
            // θ_avg = (Σ_t θ_t) / T, summed in task order; base = θ_avg − θ_pre.
            Span<float> avg = offsetReference.Span.Slice(start, count);
            finetuned[0].Span.Slice(start, count).CopyTo(avg);
            for (int t = 1; t < finetuned.Count; t++) TensorPrimitives.Add(avg, finetuned[t].Span.Slice(start, count), avg);
            TensorPrimitives.Divide(avg, (float)finetuned.Count, avg);
            TensorPrimitives.Subtract(avg, pre.Span.Slice(start, count), baseVector.Span.Slice(start, count));
        });
        var q = group is { } g
            ? QuantizedTensor.QuantizeGrouped(n, (start, x) => baseVector.Span.Slice(start, x.Length).CopyTo(x), baseBits, g,
                (start, hat) => hat.CopyTo(baseHat.Span[start..]), tensor, file, buffers ?? new QuantizeBuffers(0))
            : QuantizedTensor.Quantize(baseVector.Span[..n], baseBits, mode, baseHat.Span[..n], tensor, file, buffers, threads);
        if (errorCorrection)                                                      // θ_ec = Q(base) + θ_pre
            QuantizedTensor.ForEachBlock(n, threads, (start, count) =>
                TensorPrimitives.Add(baseHat.Span.Slice(start, count), pre.Span.Slice(start, count), offsetReference.Span.Slice(start, count)));
        return q;                                                                 // else θ_avg stays
    }

    /// <summary>
    /// RTVQ lines 4–5 for one task: offset_t = θ_t − θ_ec, τ̂_t = Q(offset_t) + Q(base), τ̂_t going to <paramref name="tauHat"/>
    /// block by block. <paramref name="offsetReference"/> is θ_ec (or θ_avg without error correction) from <see cref="RtvqBase"/>.
    /// </summary>
    public static QuantizedTensor RtvqOffset(ReadOnlyMemory<float> finetuned, ReadOnlyMemory<float> offsetReference, ReadOnlyMemory<float> baseHat, int offsetBits, QuantMode mode,
        QuantizedTensor.BlockSink tauHat, string tensor, string file, QuantizeBuffers buffers, Grouping? group = null) =>
        Q(finetuned.Length,
            (start, x) => TensorPrimitives.Subtract(finetuned.Span.Slice(start, x.Length), offsetReference.Span.Slice(start, x.Length), x),  // offset_t
            offsetBits, mode, group,
            (start, q) => { TensorPrimitives.Add(q, baseHat.Span.Slice(start, q.Length), q); tauHat(start, q); },                        // + Q(base)
            tensor, file, buffers);

    public static int TaskBits(Scheme scheme, int? bits, int? offsetBits) => scheme == Scheme.Rtvq ? offsetBits!.Value : bits!.Value;
}
