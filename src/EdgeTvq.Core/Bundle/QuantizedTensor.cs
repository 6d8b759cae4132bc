using System.Buffers;
using EdgeTvq.Packing;
using EdgeTvq.Quantization;

namespace EdgeTvq.Bundle;

/// <summary>A tensor after Q(·): the plan (affine parameters or constant) and the densely packed codes.</summary>
public sealed record QuantizedTensor(QuantPlan Plan, byte[] Packed)
{
    /// <summary>
    /// Q(x, b): quantizes <paramref name="x"/> and writes the dequantized values to <paramref name="xHat"/>.
    /// NaN/Inf are refused with an error naming the tensor and the file it came from.
    /// </summary>
    public static QuantizedTensor Quantize(ReadOnlySpan<float> x, int bits, QuantMode mode, Span<float> xHat, string tensor, string file)
    {
        if (!TensorRange.TryCompute(x, out var range, out long bad))
            throw new InvalidDataException($"{Path.GetFileName(file)}, tensor '{tensor}': element {bad} of the value to quantize is {x[(int)bad]}; NaN/Inf cannot be quantized. Check the checkpoint (and the pretrained one) for diverged weights.");
        var plan = AsymmetricQuantizer.Plan(range, x.Length, bits, mode);
        if (plan.Kind != QuantPlanKind.Affine)
        {
            xHat.Fill(plan.ConstantValue);
            return new QuantizedTensor(plan, []);
        }
        byte[] codes = ArrayPool<byte>.Shared.Rent(x.Length);
        try
        {
            var c = codes.AsSpan(0, x.Length);
            AsymmetricQuantizer.Quantize(x, plan.Params, c);
            var packed = new byte[BitPacking.PackedLength(x.Length, bits)];
            BitPacking.Pack(c, bits, packed);
            Dequantizer.Dequantize(packed, plan.Params, xHat);
            return new QuantizedTensor(plan, packed);
        }
        finally { ArrayPool<byte>.Shared.Return(codes); }
    }
}
