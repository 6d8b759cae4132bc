using EdgeTvq.Merging;
using EdgeTvq.Packing;
using EdgeTvq.Quantization;

namespace EdgeTvq.Tests.Quantization;

/// <summary>Group-wise scales and BitDelta signs (record kind 7): the quantizer, its scalar reference and the SIMD kernels.</summary>
public class GroupedQuantizerTests
{
    public static IEnumerable<object[]> WidthsAndGroups()
    {
        foreach (int bits in Enumerable.Range(1, 8))
            foreach (int g in new[] { 1, 3, 8, 16, 27, 32, 100, 128, 4096 })
                yield return [bits, g];
    }

    private static float[] Gaussian(Random rng, int n, float scale = 1f) =>
        Enumerable.Range(0, n).Select(_ => scale * (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()))).ToArray();

    private static (GroupedParams P, byte[] Codes, byte[] Packed) Encode(float[] x, int bits, int g, GroupMode mode)
    {
        var codes = new byte[x.Length];
        var p = GroupQuantizer.Quantize(x, bits, g, mode, codes);
        var packed = new byte[BitPacking.PackedLength(x.Length, bits)];
        BitPacking.Pack(codes, bits, packed);
        return (p, codes, packed);
    }

    private static List<SimdWidth> Paths()
    {
        var paths = new List<SimdWidth> { SimdWidth.Scalar, SimdWidth.Best };
        if (CodeUnpacker.IsVector128Accelerated) paths.Add(SimdWidth.Vector128);
        if (CodeUnpacker.IsVector256Accelerated) paths.Add(SimdWidth.Vector256);
        return paths;
    }

    /// <summary>Every width and group size, lengths with a last partial group: each group within Δ_g/2, codes in range.</summary>
    [Theory]
    [MemberData(nameof(WidthsAndGroups))]
    public void Every_group_reconstructs_within_half_its_step_including_a_last_partial_group(int bits, int g)
    {
        var rng = new Random(bits * 1000 + g);
        foreach (int n in new[] { 1, g - 1, g, g + 1, 3 * g + 5, 517 }.Where(n => n >= 1).Distinct())
        {
            var x = Gaussian(rng, n);
            var (p, codes, _) = Encode(x, bits, g, GroupMode.Affine);
            Assert.Equal((n + g - 1) / g, p.Scales.Length);
            Assert.All(codes, c => Assert.InRange(c, 0, (1 << bits) - 1));
            var hat = new float[n];
            GroupQuantizer.Dequantize(codes, p, hat);
            for (int i = 0; i < n; i++)
            {
                int k = i / g;
                Assert.True(p.Scales[k] > 0 && float.IsFinite(p.Scales[k]));
                Assert.Equal(MathF.Round(p.ZeroPoints[k]), p.ZeroPoints[k]);
                Assert.True(Math.Abs(x[i] - hat[i]) <= p.Scales[k] * 0.5000001 + 1e-7, $"n {n} element {i}: {x[i]} → {hat[i]}, step {p.Scales[k]}");
            }
        }
    }

    /// <summary>The project's rule: every SIMD path of the grouped kernels equals the scalar reference bit for bit, written and accumulated, from any block start.</summary>
    [Theory]
    [MemberData(nameof(WidthsAndGroups))]
    public void Simd_grouped_kernels_equal_the_scalar_reference_for_every_path_length_and_block_start(int bits, int g)
    {
        var rng = new Random(7 + bits * 31 + g);
        var mode = bits == 1 && g % 2 == 1 ? GroupMode.Sign : GroupMode.Affine;
        foreach (int n in new[] { 0, 1, 7, 8, 15, 16, 17, 31, 33, 64, 259, 1000 })
        {
            if (n == 0) continue;
            var x = Gaussian(rng, n, 0.01f);
            var (p, codes, packed) = Encode(x, bits, g, mode);
            var expected = new float[n];
            GroupQuantizer.Dequantize(codes, p, expected);
            var dst0 = Gaussian(rng, n);
            var expectedSum = (float[])dst0.Clone();
            GroupedDequantizer.AccumulateReference(codes, p, 0.37f, expectedSum);
            foreach (var path in Paths())
            {
                var got = new float[n];
                GroupedDequantizer.Dequantize(packed, p, got, path);
                AssertBits(expected, got, $"dequantize {path} n {n}");
                var sum = (float[])dst0.Clone();
                GroupedDequantizer.Accumulate(packed, p, 0.37f, sum, path);
                AssertBits(expectedSum, sum, $"accumulate {path} n {n}");
                // A block that starts at element 8k of the tensor (as the fused merge runs it) sees the same groups.
                for (int start = 8; start < n; start += 24)
                {
                    var block = new float[n - start];
                    GroupedDequantizer.Dequantize(packed.AsSpan(start / 8 * bits), p, block, path, first: start);
                    AssertBits(expected[start..], block, $"block at {start}, {path}");
                }
            }
        }
    }

    private static void AssertBits(float[] expected, float[] got, string what)
    {
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(got[i]))
                Assert.Fail($"{what}: element {i} is {got[i]:R}, the scalar reference {expected[i]:R}");
    }

    [Fact]
    public void The_parallel_accumulate_equals_one_thread_on_a_large_tensor()
    {
        var rng = new Random(3);
        int n = Accumulate.ParallelThreshold * 2 + 77;
        var x = Gaussian(rng, n);
        var (p, codes, packed) = Encode(x, 3, 300, GroupMode.Affine);
        var expected = new float[n];
        GroupedDequantizer.AccumulateReference(codes, p, -0.5f, expected);
        var got = new float[n];
        Accumulate.Grouped(packed, p, -0.5f, got);
        AssertBits(expected, got, "parallel");
    }

    /// <summary>BitDelta: x̂ = α_g·sign(x) with α_g the mean |x| of the group, exactly, through the kernels too.</summary>
    [Fact]
    public void Bitdelta_reconstruction_is_alpha_times_sign()
    {
        var rng = new Random(11);
        int rows = 7, cols = 45;
        var x = Gaussian(rng, rows * cols);
        x[3] = 0f;
        var (p, codes, packed) = Encode(x, 1, cols, GroupMode.Sign);
        Assert.Empty(p.ZeroPoints);
        var hat = new float[x.Length];
        GroupedDequantizer.Dequantize(packed, p, hat);
        for (int r = 0; r < rows; r++)
        {
            float alpha = (float)(x.Skip(r * cols).Take(cols).Sum(v => (double)Math.Abs(v)) / cols);
            Assert.Equal(alpha, p.Scales[r]);
            for (int c = 0; c < cols; c++)
            {
                int i = r * cols + c;
                Assert.Equal(x[i] >= 0 ? alpha : -alpha, hat[i]);
            }
        }
    }

    /// <summary>Rows of very different ranges: one scale per row beats one per tensor (the reason for group scales).</summary>
    [Fact]
    public void Row_scales_reduce_the_error_on_rows_of_very_different_ranges()
    {
        var rng = new Random(5);
        int rows = 16, cols = 64;
        var x = new float[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            var row = Gaussian(rng, cols, MathF.Pow(10f, -3f + 3f * r / (rows - 1)));   // 1e-3 … 1
            row.CopyTo(x, r * cols);
        }
        foreach (int bits in new[] { 2, 4 })
        {
            var codes = new byte[x.Length];
            var tensorHat = new float[x.Length];
            AsymmetricQuantizer.RoundTrip(x, bits, QuantMode.Default, codes, tensorHat);
            var (p, gcodes, _) = Encode(x, bits, cols, GroupMode.Affine);
            var rowHat = new float[x.Length];
            GroupQuantizer.Dequantize(gcodes, p, rowHat);
            double e1 = x.Zip(tensorHat).Sum(z => Math.Pow(z.First - z.Second, 2)), e2 = x.Zip(rowHat).Sum(z => Math.Pow(z.First - z.Second, 2));
            Assert.True(e2 < 0.75 * e1, $"{bits} bits: per-row error {e2:E3}, per-tensor {e1:E3}");
            // Relative to each row's energy the gain is large: the small rows are no longer rounded to one level.
            double Relative(float[] hat) => Enumerable.Range(0, rows).Sum(r =>
                Enumerable.Range(r * cols, cols).Sum(i => Math.Pow(x[i] - hat[i], 2)) / Enumerable.Range(r * cols, cols).Sum(i => (double)x[i] * x[i]));
            Assert.True(Relative(rowHat) < 0.3 * Relative(tensorHat), $"{bits} bits: relative error per row {Relative(rowHat):E3}, per tensor {Relative(tensorHat):E3}");
        }
    }

    [Fact]
    public void A_constant_group_is_exact_with_code_zero()
    {
        float[] x = [0.25f, 0.25f, -3f, -3f, 0f, 0f, 1f, 2f];
        var (p, codes, _) = Encode(x, 2, 2, GroupMode.Affine);
        var hat = new float[x.Length];
        GroupQuantizer.Dequantize(codes, p, hat);
        Assert.Equal(x[..6], hat[..6]);
        Assert.All(codes[..6], c => Assert.Equal(0, c));
    }

    [Fact]
    public void Row_length_is_the_elements_after_the_first_dimension()
    {
        Assert.Equal(48, GroupQuantizer.RowLength([96, 48]));
        Assert.Equal(49, GroupQuantizer.RowLength([48, 1, 7, 7]));
        Assert.Equal(10, GroupQuantizer.RowLength([10]));
        Assert.Equal(1, GroupQuantizer.RowLength([]));
    }
}
