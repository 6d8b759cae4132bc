using System.Diagnostics;
using EdgeTvq.Merging;
using EdgeTvq.Packing;
using EdgeTvq.Quantization;

namespace EdgeTvq.Bench;

/// <summary>
/// The fused dequantize-accumulate kernel on warm buffers: 88 M parameters (a ViT-B/32) as 37 tensors of 2.36 M, at
/// 2, 3 and 8 bits, scalar reference vs SIMD vs SIMD over the cores (and grouped scales per row or per 128 on one
/// core), against a memory copy of the float32 output
/// measured in the same run (best of 5 each).
/// </summary>
internal static class KernelBenchmark
{
    public static int Run()
    {
        const int n = 2_359_296, tensors = 37;
        var dst = new float[n];
        var src = new float[n];
        double Best(Action a)
        {
            a();
            double best = double.MaxValue;
            for (int r = 0; r < 5; r++)
            {
                var sw = Stopwatch.StartNew();
                for (int t = 0; t < tensors; t++) a();
                best = Math.Min(best, sw.Elapsed.TotalSeconds);
            }
            return best;
        }
        double bytesOut = 4.0 * n * tensors;
        double copy = bytesOut / Best(() => src.AsSpan().CopyTo(dst)) / 1e9;
        Console.WriteLine($"{n * (long)tensors:N0} parameters per pass; memcpy of the float32 output {copy:F2} GB/s; {Environment.ProcessorCount} cores");
        Console.WriteLine($"{"bits",4} {"path",-18} {"GB/s out",9} {"÷ memcpy",9}");
        foreach (int bits in new[] { 2, 3, 8 })
        {
            var packed = new byte[BitPacking.PackedLength(n, bits)];
            new Random(bits).NextBytes(packed);
            if (n * bits % 8 != 0) packed[^1] = 0;
            var codes = new byte[n];
            BitPacking.Unpack(packed, bits, codes);
            var p = new QuantParams(bits, 0.001f, 1 << (bits - 1), QuantMode.Default);
            // Grouped records (kind 7): one (Δ, z) per 768-element row of a ViT-B/32 weight, or per 128 elements.
            GroupedParams Groups(int g) => new(bits, GroupMode.Affine, g, Enumerable.Repeat(0.001f, (n + g - 1) / g).ToArray(), Enumerable.Repeat((float)(1 << (bits - 1)), (n + g - 1) / g).ToArray());
            var (rows, g128) = (Groups(768), Groups(128));
            foreach (var (name, act) in new (string, Action)[]
            {
                ("scalar reference", () => Accumulate.QuantizedReference(codes, p, 0.3f, dst)),
                ("SIMD, 1 core", () => Accumulate.Quantized(packed, p, 0.3f, dst, SimdWidth.Best, parallel: false)),
                ("SIMD, all cores", () => Accumulate.Quantized(packed, p, 0.3f, dst, SimdWidth.Best, parallel: true)),
                ("per row, 1 core", () => Accumulate.Grouped(packed, rows, 0.3f, dst, SimdWidth.Best, parallel: false)),
                ("per 128, 1 core", () => Accumulate.Grouped(packed, g128, 0.3f, dst, SimdWidth.Best, parallel: false)),
            })
            {
                double gbps = bytesOut / Best(act) / 1e9;
                Console.WriteLine($"{bits,4} {name,-18} {gbps,9:F2} {gbps / copy,9:F2}");
            }
        }
        return 0;
    }
}
