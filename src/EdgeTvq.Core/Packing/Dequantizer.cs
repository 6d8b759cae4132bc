using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using EdgeTvq.Quantization;

namespace EdgeTvq.Packing;

/// <summary>
/// Fused unpack + Eq. 2 straight from packed codes to float32, SIMD with the same arithmetic as
/// <see cref="AsymmetricQuantizer.Dequantize"/> (so results are bit-identical to the scalar reference:
/// codes convert to float exactly, then one subtraction and one multiply or divide per element).
/// </summary>
public static class Dequantizer
{
    public static void Dequantize(ReadOnlySpan<byte> packed, in QuantParams p, Span<float> output, SimdWidth width = SimdWidth.Best)
    {
        if (p.Mode == QuantMode.Reference)
        {
            var sink = new DivideSink(output, p.Scale, p.ZeroPoint);
            CodeUnpacker.Run(packed, p.Bits, output.Length, ref sink, width);
        }
        else
        {
            var sink = new MultiplySink(output, p.Scale, p.ZeroPoint);
            CodeUnpacker.Run(packed, p.Bits, output.Length, ref sink, width);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (Vector256<float> Lo, Vector256<float> Hi) ToFloat(Vector256<ushort> codes)
    {
        var (lo, hi) = Vector256.Widen(codes);
        return (Vector256.ConvertToSingle(lo.AsInt32()), Vector256.ConvertToSingle(hi.AsInt32()));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (Vector128<float> Lo, Vector128<float> Hi) ToFloat(Vector128<ushort> codes)
    {
        var (lo, hi) = Vector128.Widen(codes);
        return (Vector128.ConvertToSingle(lo.AsInt32()), Vector128.ConvertToSingle(hi.AsInt32()));
    }

    /// <summary>x̂ = Δ·(q − z).</summary>
    private ref struct MultiplySink(Span<float> output, float step, float zeroPoint) : ICodeConsumer
    {
        private readonly Span<float> _out = output;

        public void Consume16(Vector256<ushort> codes, int index)
        {
            var (lo, hi) = ToFloat(codes);
            var s = Vector256.Create(step);
            var z = Vector256.Create(zeroPoint);
            ref float dst = ref MemoryMarshal.GetReference(_out);
            (s * (lo - z)).StoreUnsafe(ref dst, (nuint)index);
            (s * (hi - z)).StoreUnsafe(ref dst, (nuint)index + 8);
        }

        public void Consume8(Vector128<ushort> codes, int index)
        {
            var (lo, hi) = ToFloat(codes);
            var s = Vector128.Create(step);
            var z = Vector128.Create(zeroPoint);
            ref float dst = ref MemoryMarshal.GetReference(_out);
            (s * (lo - z)).StoreUnsafe(ref dst, (nuint)index);
            (s * (hi - z)).StoreUnsafe(ref dst, (nuint)index + 4);
        }

        public void Consume1(int code, int index) => _out[index] = step * (code - zeroPoint);
    }

    /// <summary>x̂ = (q − z)/s, the reference-compatible form.</summary>
    private ref struct DivideSink(Span<float> output, float scale, float zeroPoint) : ICodeConsumer
    {
        private readonly Span<float> _out = output;

        public void Consume16(Vector256<ushort> codes, int index)
        {
            var (lo, hi) = ToFloat(codes);
            var s = Vector256.Create(scale);
            var z = Vector256.Create(zeroPoint);
            ref float dst = ref MemoryMarshal.GetReference(_out);
            ((lo - z) / s).StoreUnsafe(ref dst, (nuint)index);
            ((hi - z) / s).StoreUnsafe(ref dst, (nuint)index + 8);
        }

        public void Consume8(Vector128<ushort> codes, int index)
        {
            var (lo, hi) = ToFloat(codes);
            var s = Vector128.Create(scale);
            var z = Vector128.Create(zeroPoint);
            ref float dst = ref MemoryMarshal.GetReference(_out);
            ((lo - z) / s).StoreUnsafe(ref dst, (nuint)index);
            ((hi - z) / s).StoreUnsafe(ref dst, (nuint)index + 4);
        }

        public void Consume1(int code, int index) => _out[index] = (code - zeroPoint) / scale;
    }
}
