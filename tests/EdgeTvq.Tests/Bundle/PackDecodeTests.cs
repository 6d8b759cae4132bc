using System.Numerics.Tensors;
using CsCheck;
using EdgeTvq.Bundle;
using EdgeTvq.Format;
using EdgeTvq.Packing;
using EdgeTvq.Quantization;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Bundle;

public class PackDecodeTests
{
    public static IEnumerable<object[]> Schemes() =>
    [
        [new PackOptions { Scheme = Scheme.Tvq, Bits = 4 }],
        [new PackOptions { Scheme = Scheme.Tvq, Bits = 1 }],
        [new PackOptions { Scheme = Scheme.Fq, Bits = 8 }],
        [new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 }],
        [new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2, ErrorCorrection = false }],
        [new PackOptions { Scheme = Scheme.Tvq, Bits = 3, Mode = QuantMode.Reference }],
        [new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 4, OffsetBits = 3, Mode = QuantMode.Reference, Policy = TensorPolicy.Parse("all") }],
        // The FP32 baseline of the evaluation harness: nothing quantized, every τ stored exactly.
        [new PackOptions { Scheme = Scheme.Tvq, Bits = 8, Policy = TensorPolicy.Parse("none") }],
        // Group-wise scales (format version 4, record kind 7), every width, groups that do not divide the tensors.
        .. Enumerable.Range(1, 8).Select(b => new object[] { new PackOptions { Scheme = Scheme.Tvq, Bits = b, Group = new GroupSpec(b * 5) } }),
        [new PackOptions { Scheme = Scheme.Tvq, Bits = 2, Group = GroupSpec.Row }],
        [new PackOptions { Scheme = Scheme.Fq, Bits = 4, Group = GroupSpec.Row }],
        [new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2, Group = GroupSpec.Row }],
        [new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 2, OffsetBits = 1, Group = new GroupSpec(32), ErrorCorrection = false, Policy = TensorPolicy.Parse("all") }],
        [new PackOptions { Scheme = Scheme.Tvq, Bits = 1, Signs = true, Group = GroupSpec.Row }],
    ];

    /// <summary>Q(x) round trip as the scheme equations state it: per tensor, or per group with the scalar reference.</summary>
    private static void RoundTrip(float[] x, long[] shape, int bits, PackOptions o, byte[] codes, float[] hat)
    {
        if (o.Group is not { } spec || x.Length == 0)
        {
            AsymmetricQuantizer.RoundTrip(x, bits, o.Mode, codes, hat);
            return;
        }
        if (x.Min() == x.Max()) { Array.Fill(hat, x[0]); return; }   // range 0: a constant record
        int g = spec.IsRow ? GroupQuantizer.RowLength(shape) : spec.Size;
        var p = GroupQuantizer.Quantize(x, bits, g, o.Signs ? GroupMode.Sign : GroupMode.Affine, codes);
        GroupQuantizer.Dequantize(codes, p, hat);
    }

    /// <summary>τ̂ computed directly from the scheme equations, independent of the file format.</summary>
    private static Dictionary<string, float[]> ExpectedTauHat(MemorySource pre, List<MemorySource> tasks, PackOptions o, int t)
    {
        var result = new Dictionary<string, float[]>();
        foreach (var (name, (shape, p)) in pre.Data)
        {
            var ft = tasks[t].Data[name].Values;
            var tau = new float[p.Length];
            TensorPrimitives.Subtract(ft, p, tau);
            if (o.Policy.Decide(name, shape, true) == TensorStorage.Full) { result[name] = tau; continue; }
            var hat = new float[p.Length];
            var codes = new byte[p.Length];
            switch (o.Scheme)
            {
                case Scheme.Tvq:
                    RoundTrip(tau, shape, o.Bits!.Value, o, codes, hat);
                    break;
                case Scheme.Fq:
                    RoundTrip(ft, shape, o.Bits!.Value, o, codes, hat);
                    TensorPrimitives.Subtract(hat, p, hat);
                    break;
                default:
                    var avg = new float[p.Length];
                    tasks[0].Data[name].Values.CopyTo(avg, 0);
                    for (int k = 1; k < tasks.Count; k++) TensorPrimitives.Add(avg, tasks[k].Data[name].Values, avg);
                    TensorPrimitives.Divide(avg, (float)tasks.Count, avg);
                    var baseVec = new float[p.Length];
                    TensorPrimitives.Subtract(avg, p, baseVec);
                    var baseHat = new float[p.Length];
                    RoundTrip(baseVec, shape, o.BaseBits!.Value, o, codes, baseHat);
                    var reference = avg;
                    if (o.ErrorCorrection) { reference = new float[p.Length]; TensorPrimitives.Add(baseHat, p, reference); }
                    var offset = new float[p.Length];
                    TensorPrimitives.Subtract(ft, reference, offset);
                    RoundTrip(offset, shape, o.OffsetBits!.Value, o, codes, hat);
                    TensorPrimitives.Add(hat, baseHat, hat);
                    break;
            }
            result[name] = hat;
        }
        return result;
    }

    [Theory]
    [MemberData(nameof(Schemes))]
    public void Decoded_task_vectors_equal_the_scheme_equations_bit_for_bit(PackOptions options)
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(3, seed: 7);
        var manifest = BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), options, dir["b"]);
        Assert.Equal(3, manifest.Tasks.Count);
        Assert.True(BundleVerifier.Verify(dir["b"]).Ok);
        for (int t = 0; t < 3; t++)
        {
            var expected = ExpectedTauHat(pre, tasks, options, t);
            var got = new Dictionary<string, DecodedTensor>();
            var m = ManifestIO.Load(dir["b"]);
            TaskDecoder.Decode(dir["b"], m, m.Tasks[t], options.Scheme == Scheme.Fq ? pre : null, DecodeTarget.TaskVector, d => got[d.Name] = d);
            foreach (var (name, values) in expected)
                Assert.True(values.AsSpan().SequenceEqual(got[name].Values), $"{options.Scheme} task {t} tensor {name}");
            Assert.Equal(tasks[t].Data["head.weight"].Values, got["head.weight"].Values);
            Assert.True(got["head.bias"].IsOwn);
        }
    }

    [Fact]
    public void Finetuned_decode_adds_the_pretrained_weights()
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(2, seed: 3);
        BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), new PackOptions { Scheme = Scheme.Tvq, Bits = 8 }, dir["b"]);
        var m = ManifestIO.Load(dir["b"]);
        var tv = new Dictionary<string, float[]>();
        var ft = new Dictionary<string, float[]>();
        TaskDecoder.Decode(dir["b"], m, m.Tasks[1], null, DecodeTarget.TaskVector, d => tv[d.Name] = d.Values);
        TaskDecoder.Decode(dir["b"], m, m.Tasks[1], pre, DecodeTarget.Finetuned, d => ft[d.Name] = d.Values);
        foreach (var (name, (_, p)) in pre.Data)
            for (int i = 0; i < p.Length; i++) Assert.Equal(p[i] + tv[name][i], ft[name][i]);
        // 8-bit TVQ is close to the true fine-tuned weights.
        foreach (var (name, (_, v)) in tasks[1].Data.Where(kv => pre.Data.ContainsKey(kv.Key)))
            Assert.True(TensorPrimitives.Distance(v, ft[name]) < 0.01 * Math.Sqrt(v.Length));
    }

    private static double RtvqSquaredError(int tasks, int baseBits, int offsetBits, int seed, bool ec)
    {
        var (pre, fts) = MemorySource.SmallModel(tasks, seed, withHead: false);
        var o = new PackOptions { Scheme = Scheme.Rtvq, BaseBits = baseBits, OffsetBits = offsetBits, ErrorCorrection = ec, Policy = TensorPolicy.Parse("all") };
        double sum = 0;
        for (int t = 0; t < tasks; t++)
            foreach (var (name, hat) in ExpectedTauHat(pre, fts, o, t))
            {
                var tau = new float[hat.Length];
                TensorPrimitives.Subtract(fts[t].Data[name].Values, pre.Data[name].Values, tau);
                double d = TensorPrimitives.Distance(tau, hat);
                sum += d * d;
            }
        return sum;
    }

    /// <summary>
    /// Error correction (Eq. 6) is no worse than Eq. 4 on random data wherever the base error matters, i.e. the
    /// paper's regime b_o ≥ 2 and b_b ≤ b_o + 2 (measured: 0.04–0.997 × the uncorrected error on most draws). It is not
    /// a theorem: a random draw can come out marginally worse (CsCheck seed 4MqWfgGmSaY4 found 3 tasks, b_o = 2, b_b = 4,
    /// model seed 20667), so the property allows 2 %.
    /// </summary>
    [Fact]
    public void Rtvq_with_error_correction_is_never_worse_than_without_on_random_data()
    {
        Gen.Select(Gen.Int[2, 8], Gen.Int[2, 4], Gen.Int[0, 2], Gen.Int[0, 100000]).Sample((tasks, offsetBits, extra, seed) =>
        {
            int baseBits = Math.Min(8, offsetBits + extra);
            return RtvqSquaredError(tasks, baseBits, offsetBits, seed, ec: true) <= 1.02 * RtvqSquaredError(tasks, baseBits, offsetBits, seed, ec: false);
        }, iter: 150);
    }

    /// <summary>
    /// Outside that regime (1-bit offsets, or a base far finer than the offsets) the base error is negligible next to
    /// the offset step and correction is a wash: measured within ±1.4 %. It is never worse by more than 2 %.
    /// </summary>
    [Fact]
    public void Rtvq_error_correction_is_within_two_percent_even_when_the_base_error_is_negligible()
    {
        Gen.Select(Gen.Int[2, 8], Gen.Int[1, 8], Gen.Int[1, 8], Gen.Int[0, 100000]).Sample((tasks, baseBits, offsetBits, seed) =>
            RtvqSquaredError(tasks, baseBits, offsetBits, seed, ec: true) <= 1.02 * RtvqSquaredError(tasks, baseBits, offsetBits, seed, ec: false),
            iter: 150);
    }

    [Fact]
    public void Quantized_record_sizes_equal_the_theory()
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(4, seed: 11);
        var o = new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 };
        BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), o, dir["b"]);
        var m = ManifestIO.Load(dir["b"]);
        long Record(TensorEntry e, int bits) => 16 + e.Name.Length + 8 * e.Shape.Length + 8 + BitPacking.PackedLength(e.ElementCount, bits) + 8;
        long Full(TensorEntry e) => 16 + e.Name.Length + 8 * e.Shape.Length + 4 * e.ElementCount + 8;
        var quantized = m.Tensors.Where(e => e.Storage == "quantized").ToList();
        var full = m.Tensors.Where(e => e.Storage == "full").ToList();
        Assert.Equal(80 + quantized.Sum(e => Record(e, 3)) + 24, m.Base!.Bytes);
        foreach (var t in m.Tasks)
        {
            long meta = 16 + "__metadata__".Length + ManifestIO.SerializeMetadata(new TaskMetadata { Task = t.Name, Source = t.Source }).Length + 8;
            long own = t.OwnTensors.Sum(x => 16 + x.Name.Length + 8 * x.Shape.Length + 4 * x.Shape.Aggregate(1L, (a, b) => a * b) + 8);
            Assert.Equal(80 + meta + quantized.Sum(e => Record(e, 2)) + full.Sum(Full) + own + 24, t.Bytes);
        }
        var report = BundleInspector.Inspect(dir["b"]);
        Assert.Equal(2 + 3.0 / 4, report.PaperBitsPerParameter);
        Assert.Equal(m.Tasks.Sum(t => t.Bytes) + m.Base.Bytes + new FileInfo(dir["b/manifest.json"]).Length, report.TotalBytes);
    }

    [Fact]
    public void Default_policy_keeps_biases_norms_and_embeddings_full_precision()
    {
        var p = TensorPolicy.Default;
        Assert.Equal(TensorStorage.Quantized, p.Decide("blocks.0.attn.qkv.weight", [24, 8], true));
        Assert.Equal(TensorStorage.Quantized, p.Decide("patch_embed.proj.weight", [8, 1, 3, 3], true));
        Assert.Equal(TensorStorage.Full, p.Decide("blocks.0.attn.qkv.bias", [24], true));
        Assert.Equal(TensorStorage.Full, p.Decide("blocks.0.norm1.weight", [8], true));
        Assert.Equal(TensorStorage.Full, p.Decide("pos_embed", [1, 5, 8], true));
        Assert.Equal(TensorStorage.Full, p.Decide("model.token_embedding.weight", [1000, 8], true));
        Assert.Equal(TensorStorage.Full, p.Decide("visual.ln_post.weight", [8, 8], true));
        Assert.Equal(TensorStorage.Skipped, p.Decide("bn.num_batches_tracked", [], false));
        var authors = TensorPolicy.Parse("authors");
        Assert.Equal(TensorStorage.Quantized, authors.Decide("visual.conv1.weight", [8, 3, 2, 2], true));
        Assert.Equal(TensorStorage.Full, authors.Decide("visual.ln_pre.weight", [8], true));
        Assert.Equal(TensorStorage.Full, authors.Decide("visual.proj", [8, 4], true));
    }

    [Fact]
    public void Nan_in_a_finetuned_checkpoint_is_refused_naming_file_and_tensor_and_nothing_is_written()
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(2, seed: 5);
        tasks[1].Data["blocks.0.mlp.fc1.weight"].Values[5] = float.NaN;
        var e = Assert.Throws<InvalidDataException>(() =>
            BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), new PackOptions { Bits = 4 }, dir["b"]));
        Assert.Contains("task1.pt", e.Message);
        Assert.Contains("blocks.0.mlp.fc1.weight", e.Message);
        Assert.False(Directory.Exists(dir["b"]));
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Path));
    }

    [Fact]
    public void A_finetune_with_a_different_shape_is_refused_with_both_shapes()
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(2, seed: 5);
        tasks[0].Data["blocks.0.mlp.fc1.weight"] = ([8, 16], new float[128]);
        var e = Assert.Throws<InvalidDataException>(() =>
            BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), new PackOptions { Bits = 4 }, dir["b"]));
        Assert.Contains("[8, 16]", e.Message);
        Assert.Contains("[16, 8]", e.Message);
    }
}
