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
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loop: fully optimized from its first call, not after tiering
    public static void Dequantize(ReadOnlySpan<byte> packed, in QuantParams p, Span<float> output, SimdWidth width = SimdWidth.Best)
    {
        if (p.Mode == QuantMode.Reference)
        {
            var sink = new Sink<DivideByScale>(output, p.Scale, p.ZeroPoint);
            CodeUnpacker.Run(packed, p.Bits, output.Length, ref sink, width);
        }
        else
        {
            var sink = new Sink<MultiplyByStep>(output, p.Scale, p.ZeroPoint);
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

    /// <summary>Eq. 2 in one of its two forms, for every vector width.</summary>
    internal interface IAffineForm
    {
        static abstract float Apply(float q, float scale, float zeroPoint);
        static abstract Vector128<float> Apply(Vector128<float> q, Vector128<float> scale, Vector128<float> zeroPoint);
        static abstract Vector256<float> Apply(Vector256<float> q, Vector256<float> scale, Vector256<float> zeroPoint);
    }

    /// <summary>x̂ = Δ·(q − z) (default quantizer; the stored scale is the step Δ).</summary>
    internal readonly struct MultiplyByStep : IAffineForm
    {
        public static float Apply(float q, float step, float z) => step * (q - z);
        public static Vector128<float> Apply(Vector128<float> q, Vector128<float> step, Vector128<float> z) => step * (q - z);
        public static Vector256<float> Apply(Vector256<float> q, Vector256<float> step, Vector256<float> z) => step * (q - z);
    }

    /// <summary>x̂ = (q − z)/s (reference-compatible quantizer; the stored scale is s = 1/Δ).</summary>
    internal readonly struct DivideByScale : IAffineForm
    {
        public static float Apply(float q, float s, float z) => (q - z) / s;
        public static Vector128<float> Apply(Vector128<float> q, Vector128<float> s, Vector128<float> z) => (q - z) / s;
        public static Vector256<float> Apply(Vector256<float> q, Vector256<float> s, Vector256<float> z) => (q - z) / s;
    }

    /// <summary>Writes dequantized values; <typeparamref name="TForm"/> picks the formula at compile time.</summary>
    private ref struct Sink<TForm>(Span<float> output, float scale, float zeroPoint) : ICodeConsumer where TForm : IAffineForm
    {
        private readonly Span<float> _out = output;

        public void Consume16(Vector256<ushort> codes, int index)
        {
            var (lo, hi) = ToFloat(codes);
            var s = Vector256.Create(scale);
            var z = Vector256.Create(zeroPoint);
            ref float dst = ref MemoryMarshal.GetReference(_out);
            TForm.Apply(lo, s, z).StoreUnsafe(ref dst, (nuint)index);
            TForm.Apply(hi, s, z).StoreUnsafe(ref dst, (nuint)index + 8);
        }

        public void Consume8(Vector128<ushort> codes, int index)
        {
            var (lo, hi) = ToFloat(codes);
            var s = Vector128.Create(scale);
            var z = Vector128.Create(zeroPoint);
            ref float dst = ref MemoryMarshal.GetReference(_out);
            TForm.Apply(lo, s, z).StoreUnsafe(ref dst, (nuint)index);
            TForm.Apply(hi, s, z).StoreUnsafe(ref dst, (nuint)index + 4);
        }

        public void Consume1(int code, int index) => _out[index] = TForm.Apply(code, scale, zeroPoint);
    }
}
