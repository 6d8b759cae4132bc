using EdgeTvq.Bundle;
using EdgeTvq.Format;
using EdgeTvq.Merging;
using EdgeTvq.Packing;
using EdgeTvq.Quantization;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Merging;

/// <summary>
/// The fused one-pass merge (blocks of every input formed once, spread over threads, records read one tensor ahead)
/// against a scalar reference written from the equations, element by element, for any thread count.
/// </summary>
public class FusedMergeTests
{
    public static IEnumerable<object[]> Schemes() =>
    [
        [new PackOptions { Scheme = Scheme.Tvq, Bits = 3 }],
        [new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 }],
        [new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2, Mode = QuantMode.Reference }],
        [new PackOptions { Scheme = Scheme.Fq, Bits = 8 }],
        // Grouped records (kind 7): groups that straddle SIMD vectors and blocks, one per row, BitDelta's signs.
        [new PackOptions { Scheme = Scheme.Tvq, Bits = 3, Group = new GroupSpec(100) }],
        [new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2, Group = GroupSpec.Row }],
        [new PackOptions { Scheme = Scheme.Fq, Bits = 8, Group = new GroupSpec(4096) }],
        [new PackOptions { Scheme = Scheme.Tvq, Bits = 1, Signs = true, Group = GroupSpec.Row }],
    ];

    /// <summary>Tensors of several blocks with ragged ends, one small and one of one element.</summary>
    private static (MemorySource Pre, List<MemorySource> Tasks) Model(int tasks, int seed)
    {
        var rng = new Random(seed);
        var shapes = new (string, long[])[]
        {
            ("blocks.0.attn.qkv.weight", [233, 301]), ("blocks.0.attn.qkv.bias", [301]),
            ("blocks.1.mlp.fc2.weight", [300, 301]), ("norm.bias", [1]),
        };
        var pre = shapes.ToDictionary(s => s.Item1, s => (s.Item2, Enumerable.Range(0, (int)s.Item2.Aggregate(1L, (a, b) => a * b)).Select(_ => MemorySource.Gauss(rng)).ToArray()));
        var list = Enumerable.Range(0, tasks).Select(t => new MemorySource($"task{t}.pt",
            pre.ToDictionary(kv => kv.Key, kv => (kv.Value.Item1, kv.Value.Item2.Select(x => x + 0.02f * MemorySource.Gauss(rng)).ToArray())))).ToList();
        return (new MemorySource("pretrained.pt", pre), list);
    }

    /// <summary>One stored record as the reference reads it: codes one per byte, or the values.</summary>
    private sealed record Stored(RecordKind Kind, QuantParams Params, byte[] Codes, float Value, float[] Values)
    {
        public float At(int i) => Kind switch
        {
            RecordKind.Quantized => Params.Dequantize(Codes[i]),
            RecordKind.Constant => Value,
            RecordKind.Grouped => Values[i],
            _ => Values[i],
        };
    }

    private static Dictionary<string, Stored> ReadRecords(string path, QuantMode mode)
    {
        var records = new Dictionary<string, Stored>();
        BundleFileReader.Read(path, null, (in BundleRecord r) =>
        {
            if (r.Kind is RecordKind.Metadata or RecordKind.OwnFloat32) return;
            var codes = new byte[r.ElementCount];
            var values = Array.Empty<float>();
            QuantParams p = default;
            if (r.Kind == RecordKind.Quantized)
            {
                p = r.QuantParams(mode);
                BitPacking.Unpack(System.Buffers.BuffersExtensions.ToArray(r.Codes), r.Bits, codes);
            }
            else if (r.Kind == RecordKind.Grouped)
            {
                // Decoded by hand: codes unpacked one per byte, then the scalar reference of the grouped kernels.
                BitPacking.Unpack(System.Buffers.BuffersExtensions.ToArray(r.GroupedCodes), r.Bits, codes);
                values = new float[r.ElementCount];
                GroupQuantizer.Dequantize(codes, r.GroupedParams(), values);
            }
            else if (r.Kind == RecordKind.Float32)
            {
                values = new float[r.ElementCount];
                r.DecodeTo(values, mode);
            }
            records[r.Name] = new Stored(r.Kind, p, codes, r.Kind == RecordKind.Constant ? r.ConstantValue : 0f, values);
        });
        return records;
    }

    /// <summary>θ = θ_pre [FQ: + (−Σλ)·θ_pre] + Σλ·dq(base) + Σ_t λ_t·dq(task_t), one element at a time, in that order.</summary>
    internal static Dictionary<string, float[]> ScalarReference(string dir, MemorySource pre, Dictionary<string, float> lambdas)
    {
        var m = ManifestIO.Load(dir);
        var o = ManifestIO.OptionsOf(m);
        var base_ = m.Base is null ? null : ReadRecords(Path.Combine(dir, m.Base.File), o.Mode);
        var tasks = lambdas.Where(kv => kv.Value != 0f).Select(kv => (Records: ReadRecords(Path.Combine(dir, TaskDecoder.FindTask(m, kv.Key).File), o.Mode), Lambda: kv.Value)).ToList();
        float lambdaSum = (float)lambdas.Values.Sum(v => (double)v);
        var result = new Dictionary<string, float[]>();
        foreach (var e in m.Tensors.Where(e => e.Storage != "skipped"))
        {
            bool quantized = e.Storage == "quantized";
            var d = (float[])pre.Data[e.Name].Values.Clone();
            for (int i = 0; i < d.Length; i++)
            {
                float x = d[i];
                if (o.Scheme == Scheme.Fq && quantized) x = x + -lambdaSum * x;
                if (base_ is not null && quantized) x = x + lambdaSum * base_[e.Name].At(i);
                foreach (var (records, lambda) in tasks) x = x + lambda * records[e.Name].At(i);
                d[i] = x;
            }
            result[e.Name] = d;
        }
        return result;
    }

    internal static void AssertBitIdentical(Dictionary<string, float[]> expected, WeightSet got, string what)
    {
        Assert.Equal(expected.Keys.Order(), got.Names.Order());
        foreach (var (name, values) in expected)
        {
            var span = got.Span(name);
            for (int i = 0; i < values.Length; i++)
                if (BitConverter.SingleToInt32Bits(values[i]) != BitConverter.SingleToInt32Bits(span[i]))
                    Assert.Fail($"{what}: {name}[{i}] is {span[i]:R}, the scalar reference {values[i]:R}");
        }
    }

    [Theory]
    [MemberData(nameof(Schemes))]
    public void The_fused_merge_equals_the_scalar_reference_bit_for_bit_for_any_thread_count(PackOptions options)
    {
        using var dir = new TempDir();
        var (pre, tasks) = Model(4, seed: 5);
        BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), options, dir["b"]);
        var m = ManifestIO.Load(dir["b"]);
        Assert.Contains(m.Tensors, e => e.Storage == "quantized" && e.ElementCount > 4 * 16384);
        var lambdas = new Dictionary<string, float> { ["t0"] = 0.3f, ["t1"] = 0.7f, ["t2"] = 0f, ["t3"] = -0.45f };
        var expected = ScalarReference(dir["b"], pre, lambdas);
        var recipe = new MergeRecipe(MergeMethod.TaskArithmetic, lambdas);
        foreach (int threads in new[] { 1, 2, 3, 8 })
        {
            using var merged = BundleMerger.Merge(dir["b"], m, pre, recipe, threads: threads);
            AssertBitIdentical(expected, merged.Weights, $"{threads} threads");
        }
        // θ_pre from a file: read block by block with pread, each block on the thread that sums it.
        Checkpoints.SafetensorsWriter.WriteFloat32(dir["pre.safetensors"], pre.Data.Select(kv => (kv.Key, kv.Value.Shape, kv.Value.Values)));
        using (var file = new Checkpoints.CheckpointTensorSource(dir["pre.safetensors"]))
        {
            Assert.True(((ITensorSource)file).ReadsRanges);
            foreach (int threads in new[] { 1, 3 })
            {
                using var merged = BundleMerger.Merge(dir["b"], m, file, recipe, threads: threads);
                AssertBitIdentical(expected, merged.Weights, $"θ_pre read by block, {threads} threads");
            }
        }
        // The device path: θ_pre and dq(base) cached, the first merge filling the cache, the next using it and refilling its buffers.
        using var cache = new MergeCache(pre, m);
        using var first = BundleMerger.Merge(dir["b"], m, cache, recipe, threads: 2);
        AssertBitIdentical(expected, first.Weights, "filling the cache");
        var reused = BundleMerger.Merge(dir["b"], m, cache, MergeRecipe.Individual("t2"), threads: 3);
        using var second = BundleMerger.Merge(dir["b"], m, cache, recipe, reuse: reused.Weights, threads: 3);
        foreach (var w in reused.OwnTensors.Values) w.Dispose();
        AssertBitIdentical(expected, second.Weights, "from the cache, into reused buffers");
    }

    [Fact]
    public void Merged_weights_live_in_one_huge_page_arena()
    {
        using var dir = new TempDir();
        var (pre, tasks) = Model(2, seed: 6);
        BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), new PackOptions { Scheme = Scheme.Tvq, Bits = 4 }, dir["b"]);
        var m = ManifestIO.Load(dir["b"]);
        using var merged = BundleMerger.Merge(dir["b"], m, pre, MergeRecipe.TaskArithmetic(["t0", "t1"]));
        unsafe
        {
            var pointers = merged.Weights.Names.Select(n => (long)merged.Weights.Pointer(n)).Order().ToList();
            Assert.All(pointers, p => Assert.Equal(0, p % 64));
            long first = pointers[0];
            Assert.Equal(0, first % (2 << 20)); // the arena starts on a huge-page boundary
            Assert.True(pointers[^1] - first < 2L * merged.Weights.TotalElements * sizeof(float) + 4096, "tensors are packed in one block");
        }
        if (File.Exists("/sys/kernel/mm/transparent_hugepage/enabled") && !File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled").Contains("[never]"))
            Assert.True(merged.Weights.UsesHugePages, "madvise(MADV_HUGEPAGE) was refused although THP is available");
    }
}
