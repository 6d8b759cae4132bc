using EdgeTvq.Bundle;
using EdgeTvq.Packing;
using EdgeTvq.Quantization;

namespace EdgeTvq.Tests.Quantization;

/// <summary>The SIMD quantizer, range and packing kernels against the scalar reference, bit for bit.</summary>
public class QuantizeKernelTests
{
    private static readonly int[] Lengths = [0, 1, 7, 8, 31, 32, 33, 63, 64, 65, 100, 255, 256, 259, 1000, 4099, 16384 + 5, 70001];

    private static float[] Gaussian(Random rng, int n, float center, float spread) =>
        Enumerable.Range(0, n).Select(_ => center + spread * Support.MemorySource.Gauss(rng)).ToArray();

    private static IEnumerable<float[]> Tensors()
    {
        var rng = new Random(7);
        foreach (int n in Lengths)
        {
            yield return Gaussian(rng, n, 0f, 1e-3f);
            yield return Gaussian(rng, n, 3f, 0.5f);          // all positive: large negative zero point in FQ
            yield return Gaussian(rng, n, -2000f, 1e-2f);     // |x/Δ| beyond float32's exact half-integers: the float64 fallback
            var zeros = new float[n];                          // signed zeros: which one the range keeps
            for (int i = 0; i < n; i++) zeros[i] = rng.Next(3) switch { 0 => 0f, 1 => -0f, _ => (float)rng.NextDouble() };
            yield return zeros;
            var negZeros = zeros.Select(v => -v).ToArray();
            yield return negZeros;
        }
    }

    private static void AssertSameRange(float[] x)
    {
        bool okRef = TensorRange.TryCompute(x, out var a, out long badA);
        bool ok = QuantizeKernels.TryComputeRange(x, out var b, out long badB);
        Assert.Equal(okRef, ok);
        Assert.Equal(badA, badB);
        Assert.Equal(BitConverter.SingleToInt32Bits(a.Min), BitConverter.SingleToInt32Bits(b.Min));
        Assert.Equal(BitConverter.SingleToInt32Bits(a.Max), BitConverter.SingleToInt32Bits(b.Max));
    }

    [Fact]
    public void Range_matches_the_scalar_scan_including_signed_zeros_and_non_finite_values()
    {
        foreach (var x in Tensors()) AssertSameRange(x);
        var rng = new Random(3);
        foreach (int n in new[] { 64, 100, 1000 })
            foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
                foreach (int at in new[] { 0, n / 2, n - 1 })
                {
                    var x = Gaussian(rng, n, 0, 1);
                    x[at] = bad;
                    if (at > 0) x[at / 2] = float.NaN * (at % 2); // a second non-finite value after or before: the first is reported
                    AssertSameRange(x);
                }
    }

    private static void AssertSameCodes(float[] x, QuantParams p)
    {
        var expected = new byte[x.Length];
        var actual = new byte[x.Length];
        AsymmetricQuantizer.Quantize(x, p, expected);
        QuantizeKernels.Quantize(x, p, actual);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Codes_match_the_scalar_quantizer_in_both_modes_and_every_width()
    {
        foreach (var x in Tensors())
        {
            if (!TensorRange.TryCompute(x, out var range, out _)) continue;
            for (int bits = 1; bits <= 8; bits++)
                foreach (var mode in new[] { QuantMode.Default, QuantMode.Reference })
                {
                    var plan = AsymmetricQuantizer.Plan(range, x.Length, bits, mode);
                    if (plan.Kind == QuantPlanKind.Affine) AssertSameCodes(x, plan.Params);
                }
        }
    }

    [Fact]
    public void Codes_match_the_scalar_quantizer_at_and_next_to_rounding_ties()
    {
        // Values whose x/Δ + z lands on, or one float32 step beside, a half-integer: where float32 and float64 could disagree.
        var rng = new Random(11);
        foreach (float step in new[] { 0.1f, 1e-3f, 3f / 7, 2.5e-5f, 0.3333333f })
            for (int bits = 1; bits <= 8; bits++)
                foreach (float zp in new[] { 0f, 1f, (1 << bits) / 2, -3f, (1 << bits) + 5f, 70000f })
                {
                    var x = new List<float>();
                    for (int k = -3; k < (1 << bits) + 3; k++)
                    {
                        float tie = (float)((k + 0.5 - zp) * step);
                        x.AddRange([tie, MathF.BitIncrement(tie), MathF.BitDecrement(tie), MathF.BitIncrement(MathF.BitIncrement(tie)), (float)((k - zp) * step)]);
                    }
                    while (x.Count % 32 != 5) x.Add((float)((rng.NextDouble() * (1 << bits) - zp) * step));
                    var arr = x.OrderBy(_ => rng.Next()).ToArray();
                    AssertSameCodes(arr, new QuantParams(bits, step, zp, QuantMode.Default));
                    AssertSameCodes(arr, new QuantParams(bits, 1 / step, zp, QuantMode.Reference));
                }
    }

    [Fact]
    public void Packing_matches_the_reference_for_every_width_and_length()
    {
        var rng = new Random(5);
        for (int bits = 1; bits <= 8; bits++)
            foreach (int n in Enumerable.Range(0, 260).Concat([1000, 4097, 16389]))
            {
                var codes = Enumerable.Range(0, n).Select(_ => (byte)rng.Next(1 << bits)).ToArray();
                var expected = new byte[BitPacking.PackedLength(n, bits)];
                var actual = new byte[expected.Length];
                BitPacking.Pack(codes, bits, expected);
                CodePacker.Pack(codes, bits, actual);
                Assert.Equal(expected, actual);
                if (n > 0 && bits < 8)
                {
                    int at = rng.Next(n);
                    codes[at] = (byte)(1 << bits);
                    var e = Assert.Throws<ArgumentException>(() => CodePacker.Pack(codes, bits, actual));
                    Assert.Contains($"index {at}", e.Message);
                }
            }
    }

    [Fact]
    public void Spread_and_streamed_quantization_equal_the_one_block_path()
    {
        var rng = new Random(9);
        foreach (int n in new[] { 0, 1, 100, 16384 + 5, QuantizedTensor.BlockElements * 2 + 3 })
            foreach (var mode in new[] { QuantMode.Default, QuantMode.Reference })
                foreach (int bits in new[] { 2, 3, 8 })
                {
                    var x = Gaussian(rng, n, 0.1f, 1e-2f);
                    var expectedHat = new float[n];
                    // The scalar reference of Q(·): range, plan, codes, packing, Eq. 2.
                    TensorRange.TryCompute(x, out var range, out _);
                    var plan = AsymmetricQuantizer.Plan(range, n, bits, mode);
                    var refCodes = new byte[n];
                    var refPacked = new byte[plan.Kind == QuantPlanKind.Affine ? BitPacking.PackedLength(n, bits) : 0];
                    if (plan.Kind == QuantPlanKind.Affine)
                    {
                        AsymmetricQuantizer.Quantize(x, plan.Params, refCodes);
                        BitPacking.Pack(refCodes, bits, refPacked);
                        AsymmetricQuantizer.Dequantize(refCodes, plan.Params, expectedHat);
                    }
                    else expectedHat.AsSpan().Fill(plan.ConstantValue);
                    foreach (int threads in new[] { 1, 2, 3 })
                    {
                        var hat = new float[n];
                        var q = QuantizedTensor.Quantize(x, bits, mode, hat, "t", "f", new QuantizeBuffers(0), threads);
                        Assert.Equal(plan, q.Plan);
                        Assert.Equal(refPacked, q.Packed.ToArray());
                        Assert.Equal(expectedHat, hat);
                    }
                    var streamedHat = new float[n];
                    var s = QuantizedTensor.QuantizeStreamed(n, (start, block) => x.AsSpan(start, block.Length).CopyTo(block), bits, mode,
                        (start, block) => block.CopyTo(streamedHat.AsSpan(start)), "t", "f", new QuantizeBuffers(0));
                    Assert.Equal(plan, s.Plan);
                    Assert.Equal(refPacked, s.Packed.ToArray());
                    Assert.Equal(expectedHat, streamedHat);
                }
    }

    [Fact]
    public void A_non_finite_value_is_reported_with_its_index_by_every_path()
    {
        int n = QuantizedTensor.BlockElements * 2 + 3;
        var x = new float[n];
        x[n - 2] = float.PositiveInfinity;
        foreach (int threads in new[] { 1, 2 })
        {
            var e = Assert.Throws<InvalidDataException>(() => QuantizedTensor.Quantize(x, 3, QuantMode.Default, new float[n], "w", "task.pt", null, threads));
            Assert.Contains($"element {n - 2} ", e.Message);
        }
        var s = Assert.Throws<InvalidDataException>(() => QuantizedTensor.QuantizeStreamed(n, (start, b) => x.AsSpan(start, b.Length).CopyTo(b), 3, QuantMode.Default,
            (_, _) => { }, "w", "task.pt", new QuantizeBuffers(0)));
        Assert.Contains($"element {n - 2} ", s.Message);
    }
}
