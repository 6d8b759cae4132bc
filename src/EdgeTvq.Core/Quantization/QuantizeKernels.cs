using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace EdgeTvq.Quantization;

/// <summary>
/// SIMD versions of <see cref="TensorRange.TryCompute"/> and <see cref="AsymmetricQuantizer.Quantize"/> that give
/// exactly the scalar reference's results (tested element for element, and by the packer's byte-identity tests).
/// <para>
/// Default mode evaluates Eq. 1, q = round(x/Δ + z), in float32 and keeps the result only where float32 provably
/// rounds to the same integer as the reference's float64. Write Q = x/Δ + z exactly. The float32 value v = fl(fl(x/Δ) + z)
/// is within (|r| + |v|)·2⁻²⁴·(1 + 2⁻²³) of Q (r = fl(x/Δ): two correctly rounded operations), and the float64 value
/// within (|r| + |v|)·2⁻⁵²; so where v is farther than B = (|r| + |v|)·2⁻²² from the nearest half-integer, Q, v and
/// the float64 value lie strictly on the same side of it and round to the same integer (ties included: Q cannot be a
/// tie then). Lanes that fail this test (about 2·10⁻⁴ of them for 8-bit codes, every lane once |v| ≥ 2²¹) are
/// recomputed by the float64 reference, a block of 32 at a time. Reference mode is float32 throughout and the SIMD
/// lanes perform the same two roundings (a separate multiply and add, never fused) as the scalar code.
/// </para>
/// </summary>
public static class QuantizeKernels
{
    /// <summary>Same result as <see cref="TensorRange.TryCompute"/> (including which zero, +0 or −0, is the minimum or maximum).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loop: fully optimized from its first call
    public static bool TryComputeRange(ReadOnlySpan<float> values, out TensorRange range, out long badIndex)
    {
        if (!Vector256.IsHardwareAccelerated || values.Length < 64) return TensorRange.TryCompute(values, out range, out badIndex);
        ref float x = ref MemoryMarshal.GetReference(values);
        var min = Vector256.Create(float.PositiveInfinity);
        var max = Vector256.Create(float.NegativeInfinity);
        var check = Vector256<float>.Zero; // x − x is 0 for finite x, NaN for NaN and ±Inf; NaN stays NaN in the sum
        int n = values.Length, i = 0;
        for (; i <= n - 8; i += 8)
        {
            var v = Vector256.LoadUnsafe(ref x, (nuint)i);
            min = Vector256.MinNative(min, v);
            max = Vector256.MaxNative(max, v);
            check += v - v;
        }
        float lo = float.PositiveInfinity, hi = float.NegativeInfinity, c = 0;
        for (int k = 0; k < 8; k++)
        {
            lo = Math.Min(lo, min[k]);
            hi = Math.Max(hi, max[k]);
            c += check[k];
        }
        for (; i < n; i++)
        {
            float v = values[i];
            c += v - v;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
        if (c != 0) return TensorRange.TryCompute(values, out range, out badIndex); // NaN: the reference finds the element
        // The reference keeps the first element that reaches the extreme value; that only shows for a zero's sign.
        if (lo == 0) lo = values[FirstZero(values)];
        if (hi == 0) hi = values[FirstZero(values)];
        range = new TensorRange(lo, hi);
        badIndex = -1;
        return true;
    }

    private static int FirstZero(ReadOnlySpan<float> values)
    {
        for (int i = 0; i < values.Length; i++)
            if (values[i] == 0f) return i;
        return -1;
    }

    /// <summary>Same codes as <see cref="AsymmetricQuantizer.Quantize"/>, one byte per element.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Quantize(ReadOnlySpan<float> x, in QuantParams p, Span<byte> codes)
    {
        if (codes.Length != x.Length) throw new ArgumentException("codes must have one byte per element", nameof(codes));
        if (!Vector256.IsHardwareAccelerated)
        {
            AsymmetricQuantizer.Quantize(x, p, codes);
            return;
        }
        int n = x.Length, i = 0;
        ref float src = ref MemoryMarshal.GetReference(x);
        ref byte dst = ref MemoryMarshal.GetReference(codes);
        var maxCode = Vector256.Create((float)p.MaxCode);
        var scale = Vector256.Create(p.Scale);
        var zp = Vector256.Create(p.ZeroPoint);
        if (p.Mode == QuantMode.Reference)
        {
            for (; i <= n - 32; i += 32)
            {
                var q0 = ReferenceCodes(Vector256.LoadUnsafe(ref src, (nuint)i), scale, zp, maxCode);
                var q1 = ReferenceCodes(Vector256.LoadUnsafe(ref src, (nuint)(i + 8)), scale, zp, maxCode);
                var q2 = ReferenceCodes(Vector256.LoadUnsafe(ref src, (nuint)(i + 16)), scale, zp, maxCode);
                var q3 = ReferenceCodes(Vector256.LoadUnsafe(ref src, (nuint)(i + 24)), scale, zp, maxCode);
                Narrow(q0, q1, q2, q3).StoreUnsafe(ref dst, (nuint)i);
            }
        }
        else
        {
            var bad = Vector256<int>.Zero;
            for (; i <= n - 32; i += 32)
            {
                var q0 = DefaultCodes(Vector256.LoadUnsafe(ref src, (nuint)i), scale, zp, maxCode, ref bad);
                var q1 = DefaultCodes(Vector256.LoadUnsafe(ref src, (nuint)(i + 8)), scale, zp, maxCode, ref bad);
                var q2 = DefaultCodes(Vector256.LoadUnsafe(ref src, (nuint)(i + 16)), scale, zp, maxCode, ref bad);
                var q3 = DefaultCodes(Vector256.LoadUnsafe(ref src, (nuint)(i + 24)), scale, zp, maxCode, ref bad);
                if (bad != Vector256<int>.Zero)
                {
                    AsymmetricQuantizer.Quantize(x.Slice(i, 32), p, codes.Slice(i, 32)); // too close to a tie for float32
                    bad = Vector256<int>.Zero;
                    continue;
                }
                Narrow(q0, q1, q2, q3).StoreUnsafe(ref dst, (nuint)i);
            }
        }
        if (i < n) AsymmetricQuantizer.Quantize(x[i..], p, codes[i..]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> ReferenceCodes(Vector256<float> x, Vector256<float> scale, Vector256<float> zp, Vector256<float> maxCode)
    {
        var scaled = scale * x;
        var shifted = scaled + zp;
        var q = Vector256.Round(shifted);
        return Vector256.ConvertToInt32(Vector256.Min(Vector256.Max(q, Vector256<float>.Zero), maxCode));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> DefaultCodes(Vector256<float> x, Vector256<float> step, Vector256<float> zp, Vector256<float> maxCode, ref Vector256<int> bad)
    {
        var r = x / step;
        var v = r + zp;
        var q = Vector256.Round(v);
        var distanceToTie = Vector256.Create(0.5f) - Vector256.Abs(v - q);
        var bound = (Vector256.Abs(r) + Vector256.Abs(v)) * Vector256.Create(1f / (1 << 22));
        // Not greater (NaN included: x/Δ overflowed) → recompute in float64.
        bad |= ~Vector256.GreaterThan(distanceToTie, bound).AsInt32();
        return Vector256.ConvertToInt32(Vector256.Min(Vector256.Max(q, Vector256<float>.Zero), maxCode));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Narrow(Vector256<int> a, Vector256<int> b, Vector256<int> c, Vector256<int> d) =>
        Vector256.Narrow(Vector256.Narrow(a, b), Vector256.Narrow(c, d)).AsByte();
}
