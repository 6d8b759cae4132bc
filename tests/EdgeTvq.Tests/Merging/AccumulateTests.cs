using EdgeTvq.Merging;
using EdgeTvq.Packing;
using EdgeTvq.Quantization;

namespace EdgeTvq.Tests.Merging;

/// <summary>The fused merge kernels hold to their scalar reference bit for bit, on every path, width and tail.</summary>
public class AccumulateTests
{
    private static List<SimdWidth> Paths()
    {
        var p = new List<SimdWidth> { SimdWidth.Scalar, SimdWidth.Best };
        if (CodeUnpacker.IsVector128Accelerated) p.Add(SimdWidth.Vector128);
        if (CodeUnpacker.IsVector256Accelerated) p.Add(SimdWidth.Vector256);
        return p;
    }

    private static void AssertBits(float[] expected, float[] actual, string what)
    {
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}: element {i} expected {expected[i]:R}, got {actual[i]:R}");
    }

    [Theory]
    [InlineData(1)] [InlineData(2)] [InlineData(3)] [InlineData(4)]
    [InlineData(5)] [InlineData(6)] [InlineData(7)] [InlineData(8)]
    public void Fused_dequantize_accumulate_equals_the_scalar_reference(int bits)
    {
        var rng = new Random(bits);
        foreach (var mode in new[] { QuantMode.Default, QuantMode.Reference })
            foreach (int n in Enumerable.Range(0, 40).Concat([127, 1001, Accumulate.ParallelThreshold + 13, 3 * Accumulate.ParallelThreshold + 5]))
            {
                var codes = new byte[n];
                for (int i = 0; i < n; i++) codes[i] = (byte)rng.Next(1 << bits);
                var packed = new byte[BitPacking.PackedLength(n, bits)];
                BitPacking.Pack(codes, bits, packed);
                var p = new QuantParams(bits, mode == QuantMode.Default ? 0.0071f : 140.8f, (1 << bits) / 2, mode);
                var start = Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
                var expected = (float[])start.Clone();
                Accumulate.QuantizedReference(codes, p, 0.3f, expected);
                foreach (var path in Paths())
                    foreach (bool parallel in new[] { false, true })
                    {
                        var got = (float[])start.Clone();
                        Accumulate.Quantized(packed, p, 0.3f, got, path, parallel);
                        AssertBits(expected, got, $"{mode} {bits}-bit n={n} {path} parallel={parallel}");
                    }
            }
    }

    [Fact]
    public void Float32_and_constant_accumulate_equal_the_scalar_formula()
    {
        var rng = new Random(9);
        foreach (int n in Enumerable.Range(0, 50).Append(1029))
        {
            var src = Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray();
            var start = Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray();
            var expected = start.Select((d, i) => d + 0.7f * src[i]).ToArray();
            foreach (var path in Paths())
            {
                var got = (float[])start.Clone();
                Accumulate.Float32(src, 0.7f, got, path);
                AssertBits(expected, got, $"float32 n={n} {path}");
            }
            var constant = (float[])start.Clone();
            Accumulate.Constant(-2.5f, 0.3f, constant);
            AssertBits(start.Select(d => d + 0.3f * -2.5f).ToArray(), constant, $"constant n={n}");
        }
    }
}
