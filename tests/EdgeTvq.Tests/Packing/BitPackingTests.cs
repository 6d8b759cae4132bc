using EdgeTvq.Packing;
using EdgeTvq.Quantization;

namespace EdgeTvq.Tests.Packing;

public class BitPackingTests
{
    public static IEnumerable<object[]> Widths() => Enumerable.Range(1, 8).Select(b => new object[] { b });

    private static byte[] RandomCodes(Random rng, int n, int bits)
    {
        var c = new byte[n];
        for (int i = 0; i < n; i++) c[i] = (byte)rng.Next(1 << bits);
        return c;
    }

    [Fact]
    public void Three_bit_layout_matches_the_spec_example()
    {
        // codes 0..7 → stream bits c0 | c1<<3 | c2<<6 | … little-endian.
        byte[] codes = [1, 2, 3, 4, 5, 6, 7, 0];
        var packed = new byte[3];
        BitPacking.Pack(codes, 3, packed);
        // byte 0 = c0 | c1<<3 | (c2 & 3)<<6 = 1 | 16 | 192; stream = 0x1F58D1 (hand-computed).
        Assert.Equal(new byte[] { 0xD1, 0x58, 0x1F }, packed);
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Packed_length_is_ceil_n_b_over_8(int bits)
    {
        for (long n = 0; n < 100; n++) Assert.Equal((n * bits + 7) / 8, BitPacking.PackedLength(n, bits));
        Assert.Equal(bits, BitPacking.PackedLength(8, bits));
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Pack_then_unpack_round_trips_for_every_length_up_to_300(int bits)
    {
        var rng = new Random(bits);
        for (int n = 0; n <= 300; n++)
        {
            var codes = RandomCodes(rng, n, bits);
            var packed = new byte[BitPacking.PackedLength(n, bits)];
            BitPacking.Pack(codes, bits, packed);
            Assert.True(BitPacking.PaddingIsZero(packed, bits, n));
            var back = new byte[n];
            BitPacking.Unpack(packed, bits, back);
            Assert.Equal(codes, back);
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Simd_unpack_equals_scalar_for_every_path_length_and_tail(int bits)
    {
        var rng = new Random(100 + bits);
        var paths = new List<SimdWidth> { SimdWidth.Scalar, SimdWidth.Best };
        if (CodeUnpacker.IsVector128Accelerated) paths.Add(SimdWidth.Vector128);
        if (CodeUnpacker.IsVector256Accelerated) paths.Add(SimdWidth.Vector256);
        foreach (int n in Enumerable.Range(0, 260).Concat([511, 1000, 1023, 4097]))
        {
            var codes = RandomCodes(rng, n, bits);
            var packed = new byte[BitPacking.PackedLength(n, bits)];
            BitPacking.Pack(codes, bits, packed);
            foreach (var path in paths)
            {
                var got = new byte[n];
                CodeUnpacker.Unpack(packed, bits, got, path);
                Assert.True(codes.AsSpan().SequenceEqual(got), $"bits {bits}, n {n}, path {path}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Simd_dequantize_is_bit_identical_to_the_scalar_reference(int bits)
    {
        var rng = new Random(200 + bits);
        var paths = new List<SimdWidth> { SimdWidth.Scalar, SimdWidth.Best };
        if (CodeUnpacker.IsVector128Accelerated) paths.Add(SimdWidth.Vector128);
        if (CodeUnpacker.IsVector256Accelerated) paths.Add(SimdWidth.Vector256);
        foreach (var mode in new[] { QuantMode.Default, QuantMode.Reference })
        {
            var p = new QuantParams(bits, mode == QuantMode.Default ? 0.0137f : 1 / 0.0137f, MathF.Round((1 << bits) / 3f), mode);
            foreach (int n in Enumerable.Range(0, 70).Concat([257, 1025]))
            {
                var codes = RandomCodes(rng, n, bits);
                var packed = new byte[BitPacking.PackedLength(n, bits)];
                BitPacking.Pack(codes, bits, packed);
                var expected = new float[n];
                AsymmetricQuantizer.Dequantize(codes, p, expected);
                foreach (var path in paths)
                {
                    var got = new float[n];
                    Dequantizer.Dequantize(packed, p, got, path);
                    for (int i = 0; i < n; i++)
                        Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(got[i]), $"{mode} bits {bits} n {n} i {i} path {path}: {expected[i]} vs {got[i]}");
                }
            }
        }
    }

    [Fact]
    public void Codes_that_do_not_fit_are_refused()
    {
        Assert.Throws<ArgumentException>(() => BitPacking.Pack([4], 2, new byte[1]));
    }
}
