using EdgeTvq.Bundle;
using EdgeTvq.Format;
using EdgeTvq.Merging;
using EdgeTvq.Quantization;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Merging;

public class BundleMergerTests
{
    public static IEnumerable<object[]> Schemes() =>
    [
        [new PackOptions { Scheme = Scheme.Tvq, Bits = 4 }],
        [new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 }],
        [new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2, Mode = QuantMode.Reference }],
        [new PackOptions { Scheme = Scheme.Fq, Bits = 8 }],
    ];

    /// <summary>θ_pre + Σ λ_t τ̂_t computed from the decoder's τ̂ (another path through the code).</summary>
    private static Dictionary<string, double[]> Expected(string dir, MemorySource pre, MergeRecipe recipe)
    {
        var m = ManifestIO.Load(dir);
        var sum = pre.Data.ToDictionary(kv => kv.Key, kv => kv.Value.Values.Select(v => (double)v).ToArray());
        foreach (var (task, lambda) in recipe.Coefficients)
            TaskDecoder.Decode(dir, m, TaskDecoder.FindTask(m, task), pre, DecodeTarget.TaskVector, d =>
            {
                if (d.IsOwn) return;
                for (int i = 0; i < d.Values.Length; i++) sum[d.Name][i] += lambda * (double)d.Values[i];
            });
        return sum;
    }

    [Theory]
    [MemberData(nameof(Schemes))]
    public void Task_arithmetic_and_individual_merges_equal_pretrained_plus_weighted_task_vectors(PackOptions options)
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(4, seed: 31);
        BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), options, dir["b"]);
        var m = ManifestIO.Load(dir["b"]);
        foreach (var recipe in new[] { MergeRecipe.TaskArithmetic(["t0", "t1", "t2", "t3"]), MergeRecipe.Individual("t2"),
                                       new MergeRecipe(MergeMethod.TaskArithmetic, new Dictionary<string, float> { ["t1"] = 0.5f, ["t3"] = 0.2f }) })
        {
            var expected = Expected(dir["b"], pre, recipe);
            using var merged = BundleMerger.Merge(dir["b"], m, pre, recipe);
            Assert.Equal(expected.Keys.Order(), merged.Weights.Names.Order());
            foreach (var (name, values) in expected)
            {
                var got = merged.Weights.Span(name);
                for (int i = 0; i < values.Length; i++)
                    Assert.True(Math.Abs(values[i] - got[i]) <= 1e-5 * (1 + Math.Abs(values[i])), $"{recipe} {name}[{i}]: {values[i]} vs {got[i]}");
            }
            foreach (var task in recipe.Coefficients.Keys)
                Assert.Equal(tasks[int.Parse(task[1..])].Data["head.weight"].Values, merged.OwnTensors[task].Span("head.weight").ToArray());
        }
    }

    [Fact]
    public void A_damaged_task_file_fails_the_merge_and_nothing_is_returned()
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(2, seed: 3);
        BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), new PackOptions { Bits = 4 }, dir["b"]);
        var bytes = File.ReadAllBytes(dir["b/t1.tvqt"]);
        bytes[^30] ^= 1;
        File.WriteAllBytes(dir["b/t1.tvqt"], bytes);
        var m = ManifestIO.Load(dir["b"]);
        var e = Assert.Throws<BundleFormatException>(() => BundleMerger.Merge(dir["b"], m, pre, MergeRecipe.TaskArithmetic(["t0", "t1"])));
        Assert.Contains("t1.tvqt", e.Message);
        // The undamaged task alone still merges.
        using var ok = BundleMerger.Merge(dir["b"], m, pre, MergeRecipe.Individual("t0"));
        Assert.True(ok.Weights.Count > 0);
    }
}

public class MergeCacheTests
{
    [Fact]
    public void A_cached_merge_equals_an_uncached_one_and_reads_the_base_only_once()
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(3, seed: 8);
        BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 }, dir["b"]);
        var m = ManifestIO.Load(dir["b"]);
        using var cache = new MergeCache(pre, m);
        Assert.False(cache.HasBase);
        foreach (var recipe in new[] { MergeRecipe.Individual("t0"), MergeRecipe.Individual("t2"), MergeRecipe.TaskArithmetic(["t0", "t1", "t2"]) })
        {
            using var cached = BundleMerger.Merge(dir["b"], m, cache, recipe);
            Assert.True(cache.HasBase);
            using var plain = BundleMerger.Merge(dir["b"], m, pre, recipe);
            foreach (var name in plain.Weights.Names)
            {
                var (a, b) = (plain.Weights.Span(name).ToArray(), cached.Weights.Span(name).ToArray());
                for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-6f * (1 + Math.Abs(a[i])), $"{recipe} {name}[{i}]");
            }
        }
        // Once cached, the base file is not needed any more: a switch reads only the task files.
        File.Move(dir["b/base.tvqb"], dir["base.moved"]);
        using var again = BundleMerger.Merge(dir["b"], m, cache, MergeRecipe.Individual("t1"));
        Assert.True(again.Weights.Count > 0);
    }

    [Fact]
    public void The_cache_refuses_another_pretrained_model()
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(2, seed: 8);
        var (other, _) = MemorySource.SmallModel(1, seed: 9);
        BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), new PackOptions { Bits = 4 }, dir["b"]);
        Assert.Throws<EdgeTvq.Format.BundleFormatException>(() => new MergeCache(other, ManifestIO.Load(dir["b"])));
    }
}

public class LiNeSMergeTests
{
    [Theory]
    [InlineData("tvq")]
    [InlineData("rtvq")]
    public void Streaming_lines_merge_equals_the_reference_method_on_decoded_task_vectors(string scheme)
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(3, seed: 44);
        var o = scheme == "rtvq" ? new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 } : new PackOptions { Scheme = Scheme.Tvq, Bits = 4 };
        BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), o, dir["b"]);
        var m = ManifestIO.Load(dir["b"]);
        var names = m.Tensors.Where(e => e.Storage != "skipped").Select(e => e.Name).ToList();
        var decoded = names.ToDictionary(n => n, _ => new float[3][]);
        for (int t = 0; t < 3; t++)
            TaskDecoder.Decode(dir["b"], m, m.Tasks[t], null, DecodeTarget.TaskVector, d => { if (!d.IsOwn) decoded[d.Name][t] = d.Values; });
        var table = names.Select(n => new EdgeTvq.Merging.Methods.TaskTensor(n, m.Tensors.First(e => e.Name == n).Shape, decoded[n])).ToList();
        var expected = EdgeTvq.Merging.Methods.LiNeS.TaskArithmetic(table, beta: 0.5f);

        var recipe = MergeRecipe.LiNeS(["t0", "t1", "t2"], names, beta: 0.5f);
        using var merged = BundleMerger.Merge(dir["b"], m, pre, recipe);
        for (int n = 0; n < names.Count; n++)
        {
            var got = merged.Weights.Span(names[n]);
            var p = pre.Data[names[n]].Values;
            for (int i = 0; i < p.Length; i++)
                Assert.True(Math.Abs(p[i] + expected[n][i] - got[i]) <= 1e-5f * (1 + Math.Abs(got[i])), $"{names[n]}[{i}]");
        }
        // Deeper blocks get larger coefficients: block 1 is scaled by 1/3 + 0.5, block 0 by 1/3.
        Assert.Equal(1f / 3 + 0.5f, recipe.TensorScale!("blocks.1.mlp.fc2.weight"), 6);
        Assert.Equal(1f / 3, recipe.TensorScale!("blocks.0.mlp.fc1.weight"), 6);
        Assert.Equal(1f / 3, recipe.TensorScale!("patch_embed.proj.weight"), 6);
    }
}
