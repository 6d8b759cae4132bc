using EdgeTvq.Bundle;
using EdgeTvq.Format;
using EdgeTvq.Merging;
using EdgeTvq.Merging.Methods;
using EdgeTvq.Quantization;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Merging;

/// <summary>
/// Every method of the general streaming path, run from a bundle by <see cref="BundleMerger"/>, against the in-memory
/// reference (Merging/Methods) run on the same dequantized task vectors (decoded by <see cref="TaskDecoder"/>, another
/// path through the code). The streaming kernels evaluate the reference's float operations in its order, so the
/// merged weights must equal θ_pre + Δ_reference bit for bit (float equality; ±0 compare equal).
/// </summary>
public class StreamingMergeTests
{
    private static readonly string[] Tasks = ["t0", "t1", "t2", "t3"];

    public static IEnumerable<object[]> SchemesAndMethods()
    {
        string[] schemes = ["tvq2", "tvq4", "rtvq", "rtvq-reference", "fq", "fp32"];
        string[] methods = ["ties", "ties_dis_sum", "magmax", "breadcrumbs", "consensus", "dare", "dare_ties", "emr", "tsv_merge", "tsv_compress"];
        foreach (var s in schemes)
            foreach (var m in methods)
                yield return [s, m];
    }

    /// <summary>
    /// A small bundle of 4 tasks. "fp32": every tensor is 1-D and stored as float32, θ_pre = 0 (so τ is stored exactly)
    /// and the task vectors are built with ties of magnitude, exact zeros and entries whose sum over tasks is exactly 0
    /// (TIES' elected sign 0 → the majority sign). The quantized schemes use the transformer-like small model (quantized
    /// weights, float32 biases, norms and embeddings); 2-bit codes give many ties of |τ|.
    /// </summary>
    internal static MemorySource Bundle(string scheme, string dir, int seed = 5)
    {
        if (scheme == "fp32")
        {
            var rng = new Random(seed);
            var shapes = new (string, int)[] { ("a.bias", 24), ("b.norm.weight", 10), ("c.bias", 7) };
            var pre = new MemorySource("pretrained.pt", shapes.ToDictionary(s => s.Item1, s => (new long[] { s.Item2 }, new float[s.Item2])));
            var taus = new float[Tasks.Length][][];
            for (int t = 0; t < Tasks.Length; t++)
                taus[t] = shapes.Select(s => Enumerable.Range(0, s.Item2).Select(_ => rng.Next(-4, 5) * 0.25f).ToArray()).ToArray();
            for (int n = 0; n < shapes.Length; n++)
                for (int i = 0; i < shapes[n].Item2; i += 3) // every third entry: Σ_t τ_t = 0 exactly
                {
                    taus[1][n][i] = -taus[0][n][i];
                    taus[3][n][i] = -taus[2][n][i];
                }
            var tasks = Enumerable.Range(0, Tasks.Length).Select(t => new PackTask(Tasks[t], new MemorySource($"{Tasks[t]}.pt",
                shapes.Select((s, n) => (s.Item1, (new long[] { s.Item2 }, taus[t][n]))).ToDictionary(x => x.Item1, x => x.Item2)))).ToList();
            BundlePacker.Pack(pre, tasks, new PackOptions { Scheme = Scheme.Tvq, Bits = 4 }, dir);
            Assert.All(ManifestIO.Load(dir).Tensors, e => Assert.Equal("full", e.Storage));
            return pre;
        }
        var (p, sources) = MemorySource.SmallModel(Tasks.Length, seed);
        var options = scheme switch
        {
            "tvq2" => new PackOptions { Scheme = Scheme.Tvq, Bits = 2 },
            "tvq4" => new PackOptions { Scheme = Scheme.Tvq, Bits = 4 },
            "rtvq" => new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 },
            "rtvq-reference" => new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2, Mode = QuantMode.Reference },
            "fq" => new PackOptions { Scheme = Scheme.Fq, Bits = 8 },
            "tvq2-g16" => new PackOptions { Scheme = Scheme.Tvq, Bits = 2, Group = new GroupSpec(16) },
            "rtvq-row" => new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2, Group = GroupSpec.Row },
            "bitdelta" => new PackOptions { Scheme = Scheme.Tvq, Bits = 1, Signs = true, Group = GroupSpec.Row },
            _ => throw new ArgumentException(scheme),
        };
        BundlePacker.Pack(p, sources.Select((s, i) => new PackTask(Tasks[i], s)).ToList(), options, dir);
        return p;
    }

    /// <summary>The decoded task vectors as the reference's tensor table, in the bundle's canonical order.</summary>
    internal static List<TaskTensor> Table(string dir, BundleManifest m, MemorySource pre, IReadOnlyList<string> tasks)
    {
        var entries = m.Tensors.Where(e => e.Storage != "skipped").ToList();
        var decoded = entries.ToDictionary(e => e.Name, _ => new float[tasks.Count][]);
        for (int t = 0; t < tasks.Count; t++)
        {
            int task = t;
            TaskDecoder.Decode(dir, m, TaskDecoder.FindTask(m, tasks[t]), pre, DecodeTarget.TaskVector, d => { if (!d.IsOwn) decoded[d.Name][task] = d.Values; });
        }
        return entries.Select(e => new TaskTensor(e.Name, e.Shape, decoded[e.Name])).ToList();
    }

    internal static void AssertEqualsReference(MergeResult merged, MemorySource pre, List<TaskTensor> table, float[][] delta, string what, float tolerance = 0f)
    {
        Assert.Equal(table.Select(t => t.Name), merged.Weights.Names);
        for (int n = 0; n < table.Count; n++)
        {
            var got = merged.Weights.Span(table[n].Name);
            var p = pre.Data[table[n].Name].Values;
            for (int i = 0; i < p.Length; i++)
            {
                float expected = p[i] + delta[n][i];
                if (!(Math.Abs(expected - got[i]) <= tolerance))
                    Assert.Fail($"{what}: {table[n].Name}[{i}] expected {expected:R} (θ_pre {p[i]:R} + Δ {delta[n][i]:R}), got {got[i]:R}");
            }
        }
    }

    private const int DareSeed = 1234;

    private static (MergeRecipe Recipe, Func<List<TaskTensor>, float[][]> Reference)[] Cases(string method)
    {
        var tasks = Tasks;
        return method switch
        {
            "ties" =>
            [
                (MergeRecipe.Of(MergeMethod.Ties, tasks), t => TiesMerging.Merge(t)),
                (MergeRecipe.Of(MergeMethod.Ties, tasks) with { TopK = 0.5, Lambda = 0.7f }, t => TiesMerging.Merge(t, 0.5, 0.7f)),
                (MergeRecipe.Of(MergeMethod.Ties, tasks) with { TopK = 1.0 }, t => TiesMerging.Merge(t, 1.0)),
                (MergeRecipe.Of(MergeMethod.Ties, tasks) with { TopK = 3 }, t => TiesMerging.Merge(t, 3)), // 3 % as a percentage
            ],
            "ties_dis_sum" => [(MergeRecipe.Of(MergeMethod.TiesDisSum, tasks), t => TiesMerging.MergeDisSum(t))],
            "magmax" => [(MergeRecipe.Of(MergeMethod.MagMax, tasks), t => MagMax.Merge(t))],
            "breadcrumbs" =>
            [
                (MergeRecipe.Of(MergeMethod.Breadcrumbs, tasks), t => Breadcrumbs.Merge(t)),
                (MergeRecipe.Of(MergeMethod.Breadcrumbs, tasks) with { BreadcrumbsBeta = 0.4, BreadcrumbsGamma = 0.15 }, t => Breadcrumbs.Merge(t, beta: 0.4, gamma: 0.15)),
            ],
            "consensus" =>
            [
                (MergeRecipe.Of(MergeMethod.Consensus, tasks), t => ConsensusMerging.Merge(t)),
                (MergeRecipe.Of(MergeMethod.Consensus, tasks) with { ConsensusK = 3, TallLambda = 0.3f, Lambda = 0.5f }, t => ConsensusMerging.Merge(t, 0.5f, 3, [0.3f, 0.3f, 0.3f, 0.3f])),
            ],
            "dare" => [(MergeRecipe.Of(MergeMethod.Dare, tasks) with { Seed = DareSeed }, t => Dare.TaskArithmetic(t, Dare.BernoulliMasks(t, new Random(DareSeed))))],
            // DARE + TIES: three statistic passes and the merge pass must all see the same dropped τ̃ (masks redrawn per pass).
            "dare_ties" =>
            [
                (MergeRecipe.Of(MergeMethod.DareTies, tasks) with { Seed = DareSeed }, t => Dare.Ties(t, Dare.BernoulliMasks(t, new Random(DareSeed)))),
                (MergeRecipe.Of(MergeMethod.DareTies, tasks) with { Seed = 5, DropRate = 0.2, TopK = 0.4, Lambda = 0.6f },
                    t => Dare.Ties(t, Dare.BernoulliMasks(t, new Random(5), 0.2), 0.2, 0.4, 0.6f)),
            ],
            "emr" => tasks.Select((task, i) => (MergeRecipe.Of(MergeMethod.Emr, tasks, task), (Func<List<TaskTensor>, float[][]>)(t => EmrMerging.Merge(t).TaskDelta(i)))).ToArray(),
            // TSV runs Tsv.MergeTensor / CompressTensor on the stream, the code of the in-memory Tsv.Merge / Compress.
            "tsv_merge" =>
            [
                (MergeRecipe.Of(MergeMethod.TsvMerge, tasks), t => Tsv.Merge(t)),
                (MergeRecipe.Of(MergeMethod.TsvMerge, tasks) with { Lambda = 0.7f }, t => Tsv.Merge(t, 0.7f)),
            ],
            "tsv_compress" => tasks.Select((task, i) => (MergeRecipe.Of(MergeMethod.TsvCompress, tasks, task), (Func<List<TaskTensor>, float[][]>)(t => Tsv.Compress(t, i)))).ToArray(),
            _ => throw new ArgumentException(method),
        };
    }

    /// <summary>Bundles of grouped records (kind 7) on the general per-tensor path.</summary>
    public static IEnumerable<object[]> GroupedSchemesAndMethods()
    {
        foreach (var s in new[] { "tvq2-g16", "rtvq-row", "bitdelta" })
            foreach (var m in new[] { "ties", "magmax", "emr", "tsv_merge" })
                yield return [s, m];
    }

    [Theory]
    [MemberData(nameof(SchemesAndMethods))]
    [MemberData(nameof(GroupedSchemesAndMethods))]
    public void Streaming_merge_from_a_bundle_equals_the_in_memory_reference_bit_for_bit(string scheme, string method)
    {
        using var dir = new TempDir();
        var pre = Bundle(scheme, dir["b"]);
        var m = ManifestIO.Load(dir["b"]);
        var table = Table(dir["b"], m, pre, Tasks);
        foreach (var (recipe, reference) in Cases(method))
        {
            using var merged = BundleMerger.Merge(dir["b"], m, pre, recipe);
            AssertEqualsReference(merged, pre, table, reference(table), $"{scheme} {recipe}");
            if (recipe.Task is { } served) Assert.Equal([served], merged.OwnTensors.Keys);
            else Assert.Equal(Tasks.Where(t => m.Tasks.Any(e => e.Name == t)).Order(), merged.OwnTensors.Keys.Order());
        }
    }

    [Fact]
    public void The_fp32_bundle_has_ties_zero_sums_and_a_majority_sign_that_decides()
    {
        using var dir = new TempDir();
        var pre = Bundle("fp32", dir["b"]);
        var m = ManifestIO.Load(dir["b"]);
        var table = Table(dir["b"], m, pre, Tasks);
        int zeroSums = 0;
        foreach (var t in table)
            for (int i = 0; i < t.Length; i++)
                if (t.Tau.Sum(v => v[i]) == 0) zeroSums++;
        Assert.True(zeroSums >= 10, $"{zeroSums} entries with Σ_t τ = 0");
        // With K = 100 % nothing is trimmed; entries of zero sum take the majority sign: the streaming result must
        // follow the reference there too (compared bit for bit by the theory above; here the case is shown to occur).
        var delta = TiesMerging.Merge(table, 1.0);
        Assert.Contains(table.SelectMany((t, n) => Enumerable.Range(0, t.Length).Where(i => t.Tau.Sum(v => v[i]) == 0 && delta[n][i] != 0)), _ => true);
    }

    [Fact]
    public void Dare_uses_injected_masks()
    {
        using var dir = new TempDir();
        var pre = Bundle("rtvq", dir["b"]);
        var m = ManifestIO.Load(dir["b"]);
        var table = Table(dir["b"], m, pre, Tasks);
        var masks = table.Select((t, n) => Enumerable.Range(0, Tasks.Length).Select(k => Enumerable.Range(0, t.Length).Select(i => (i + n + k) % 3 != 0).ToArray()).ToArray()).ToList();
        var byName = table.Select((t, n) => (t.Name, n)).ToDictionary(x => x.Name, x => x.n);
        var recipe = MergeRecipe.Of(MergeMethod.Dare, Tasks) with { DropRate = 0.3, DareMask = (tensor, task, keep) => masks[byName[tensor]][task].CopyTo(keep) };
        using var merged = BundleMerger.Merge(dir["b"], m, pre, recipe);
        AssertEqualsReference(merged, pre, table, Dare.TaskArithmetic(table, masks, 0.3), recipe.ToString());

        var ties = MergeRecipe.Of(MergeMethod.DareTies, Tasks) with { DropRate = 0.3, DareMask = recipe.DareMask };
        using var mergedTies = BundleMerger.Merge(dir["b"], m, pre, ties);
        AssertEqualsReference(mergedTies, pre, table, Dare.Ties(table, masks, 0.3), ties.ToString());
    }

    [Fact]
    public void A_subset_of_tasks_in_a_given_order_is_merged_and_magmax_ties_go_to_the_later_task()
    {
        using var dir = new TempDir();
        var pre = Bundle("fp32", dir["b"]);
        var m = ManifestIO.Load(dir["b"]);
        string[] subset = ["t2", "t0", "t3"];
        var table = Table(dir["b"], m, pre, subset);
        foreach (var method in new[] { MergeMethod.MagMax, MergeMethod.Ties, MergeMethod.Consensus })
        {
            var recipe = MergeRecipe.Of(method, subset);
            using var merged = BundleMerger.Merge(dir["b"], m, pre, recipe);
            var expected = method switch
            {
                MergeMethod.MagMax => MagMax.Merge(table),
                MergeMethod.Ties => TiesMerging.Merge(table),
                _ => ConsensusMerging.Merge(table),
            };
            AssertEqualsReference(merged, pre, table, expected, recipe.ToString());
        }
    }

    [Fact]
    public void A_general_merge_with_a_cache_fills_the_base_once_and_equals_the_uncached_merge()
    {
        using var dir = new TempDir();
        var pre = Bundle("rtvq", dir["b"]);
        var m = ManifestIO.Load(dir["b"]);
        var table = Table(dir["b"], m, pre, Tasks);
        using var cache = new MergeCache(pre, m);
        var ties = MergeRecipe.Of(MergeMethod.Ties, Tasks);
        using (var merged = BundleMerger.Merge(dir["b"], m, cache, ties))
            AssertEqualsReference(merged, pre, table, TiesMerging.Merge(table), "cached TIES");
        Assert.True(cache.HasBase);
        File.Move(dir["b/base.tvqb"], dir["base.moved"]); // the remaining passes and merges read only task files
        var emr = MergeRecipe.Of(MergeMethod.Emr, Tasks, "t1");
        var phases = new List<string>();
        using (var merged = BundleMerger.Merge(dir["b"], m, cache, emr, (phase, _, _) => phases.Add(phase)))
            AssertEqualsReference(merged, pre, table, EmrMerging.Merge(table).TaskDelta(1), "cached EMR");
        Assert.Contains(phases, p => p.StartsWith("statistics"));
        // The rescalers are kept: another task's EMR model takes one pass.
        phases.Clear();
        using (var merged = BundleMerger.Merge(dir["b"], m, cache, emr.ForTask("t3"), (phase, _, _) => phases.Add(phase)))
            AssertEqualsReference(merged, pre, table, EmrMerging.Merge(table).TaskDelta(3), "cached EMR, second task");
        Assert.DoesNotContain(phases, p => p.StartsWith("statistics"));
        Assert.Contains("merging", phases);
        // The fused path uses the base the general path cached.
        using var ta = BundleMerger.Merge(dir["b"], m, cache, MergeRecipe.TaskArithmetic(Tasks));
        AssertEqualsReference(ta, pre, table, TaskArithmetic.Merge(table), "cached TA", 1e-5f);
    }

    [Fact]
    public void Refilling_a_retired_weight_set_gives_the_same_result()
    {
        using var dir = new TempDir();
        var pre = Bundle("tvq4", dir["b"]);
        var m = ManifestIO.Load(dir["b"]);
        var table = Table(dir["b"], m, pre, Tasks);
        var first = BundleMerger.Merge(dir["b"], m, pre, MergeRecipe.TaskArithmetic(Tasks));
        foreach (var own in first.OwnTensors.Values) own.Dispose();
        using var cache = new MergeCache(pre, m);
        using var again = BundleMerger.Merge(dir["b"], m, cache, MergeRecipe.Of(MergeMethod.MagMax, Tasks), reuse: first.Weights);
        AssertEqualsReference(again, pre, table, MagMax.Merge(table), "refilled MagMax");
    }

    [Fact]
    public void A_damaged_task_file_fails_a_statistics_pass_and_nothing_is_returned()
    {
        using var dir = new TempDir();
        Bundle("tvq4", dir["b"]);
        var (pre, _) = MemorySource.SmallModel(Tasks.Length, 5);
        var bytes = File.ReadAllBytes(dir["b/t2.tvqt"]);
        bytes[bytes.Length / 2] ^= 0x10;
        File.WriteAllBytes(dir["b/t2.tvqt"], bytes);
        var m = ManifestIO.Load(dir["b"]);
        var e = Assert.Throws<BundleFormatException>(() => BundleMerger.Merge(dir["b"], m, pre, MergeRecipe.Of(MergeMethod.Ties, Tasks)));
        Assert.Contains("t2.tvqt", e.Message);
    }

    [Fact]
    public void Bad_method_settings_are_refused_with_the_setting_named()
    {
        using var dir = new TempDir();
        var pre = Bundle("tvq4", dir["b"]);
        var m = ManifestIO.Load(dir["b"]);
        Assert.Contains("k must lie", Assert.Throws<ArgumentOutOfRangeException>(() => BundleMerger.Merge(dir["b"], m, pre, MergeRecipe.Of(MergeMethod.Ties, Tasks) with { TopK = 0 })).Message);
        Assert.Contains("p must lie", Assert.Throws<ArgumentOutOfRangeException>(() => BundleMerger.Merge(dir["b"], m, pre, MergeRecipe.Of(MergeMethod.Dare, Tasks) with { DropRate = 1 })).Message);
        Assert.Contains("k must lie in 1 … 2", Assert.Throws<ArgumentOutOfRangeException>(() => BundleMerger.Merge(dir["b"], m, pre, MergeRecipe.Of(MergeMethod.Consensus, ["t0", "t1"]) with { ConsensusK = 3 })).Message);
        Assert.Contains("β (1.5)", Assert.Throws<ArgumentOutOfRangeException>(() => BundleMerger.Merge(dir["b"], m, pre, MergeRecipe.Of(MergeMethod.Breadcrumbs, Tasks) with { BreadcrumbsBeta = 1.5 })).Message);
        Assert.Contains("λ is NaN; it must be a finite number", Assert.Throws<ArgumentException>(() => BundleMerger.Merge(dir["b"], m, pre, MergeRecipe.Of(MergeMethod.MagMax, Tasks) with { Lambda = float.NaN })).Message);
        Assert.Contains("'t9' is not among", Assert.Throws<ArgumentException>(() => BundleMerger.Merge(dir["b"], m, pre, MergeRecipe.Of(MergeMethod.Emr, ["t0", "t1"], "t9"))).Message);
        Assert.Contains("tsv_compress: the served task 't2' is not among the merged tasks (t0, t1)",
            Assert.Throws<ArgumentException>(() => BundleMerger.Merge(dir["b"], m, pre, MergeRecipe.Of(MergeMethod.TsvCompress, ["t0", "t1"], "t2"))).Message);
        Assert.Contains("tsv_compress builds one task's model", Assert.Throws<ArgumentException>(() => MergeRecipe.Of(MergeMethod.TsvCompress, ["t0", "t1"])).Message);
        Assert.Contains("tsv_compress builds one task's model: the recipe must name the task",
            Assert.Throws<ArgumentException>(() => BundleMerger.Merge(dir["b"], m, pre, new MergeRecipe(MergeMethod.TsvCompress, new Dictionary<string, float> { ["t0"] = 1f }))).Message);
        Assert.Contains("it must be a finite number", Assert.Throws<ArgumentException>(() => BundleMerger.Merge(dir["b"], m, pre, MergeRecipe.Of(MergeMethod.TsvMerge, Tasks) with { Lambda = float.PositiveInfinity })).Message);
        Assert.Contains("not in this bundle", Assert.Throws<ArgumentException>(() => BundleMerger.Merge(dir["b"], m, pre, MergeRecipe.Of(MergeMethod.MagMax, ["t0", "nope"]))).Message);
    }
}

public class TensorCoefficientTests
{
    [Theory]
    [InlineData("tvq4")]
    [InlineData("rtvq")]
    [InlineData("fq")]
    [InlineData("fp32")]
    public void Task_arithmetic_with_per_task_and_per_tensor_coefficients_equals_the_weighted_sum(string scheme)
    {
        using var dir = new TempDir();
        var pre = StreamingMergeTests.Bundle(scheme, dir["b"]);
        var m = ManifestIO.Load(dir["b"]);
        string[] tasks = ["t0", "t1", "t2", "t3"];
        var table = StreamingMergeTests.Table(dir["b"], m, pre, tasks);
        var coefficients = new Dictionary<string, float> { ["t0"] = 0.1f, ["t1"] = 0.4f, ["t2"] = 0f, ["t3"] = 0.25f };
        string first = table[0].Name, last = table[^1].Name;
        var perTensor = new Dictionary<string, IReadOnlyDictionary<string, float>>
        {
            ["t0"] = new Dictionary<string, float> { [first] = 0.9f },
            ["t2"] = new Dictionary<string, float> { [last] = 0.6f },   // t2 is read for this tensor only
            ["t3"] = new Dictionary<string, float> { [last] = 0f },
        };
        var recipe = new MergeRecipe(MergeMethod.TaskArithmetic, coefficients) { TensorCoefficients = perTensor };
        Assert.Equal(tasks, recipe.SelectedTasks);
        using var merged = BundleMerger.Merge(dir["b"], m, pre, recipe);
        var delta = table.Select(t =>
        {
            var d = new float[t.Length];
            for (int k = 0; k < tasks.Length; k++)
            {
                float l = perTensor.TryGetValue(tasks[k], out var pt) && pt.TryGetValue(t.Name, out float v) ? v : coefficients[tasks[k]];
                for (int i = 0; i < d.Length; i++) d[i] += l * t.Tau[k][i];
            }
            return d;
        }).ToArray();
        StreamingMergeTests.AssertEqualsReference(merged, pre, table, delta, recipe.ToString(), 2e-6f);
    }
}

public class StreamingExtensionTests
{
    /// <summary>A float32-only bundle (1-D tensors, θ_pre = 0, so τ is stored exactly) from the given task vectors [task][tensor].</summary>
    private static MemorySource PackFloat32(string dir, (string Name, int Length)[] shapes, float[][][] taus)
    {
        var pre = new MemorySource("pretrained.pt", shapes.ToDictionary(s => s.Name, s => (new long[] { s.Length }, new float[s.Length])));
        var tasks = taus.Select((tau, t) => new PackTask($"t{t}", new MemorySource($"t{t}.pt",
            shapes.Select((s, n) => (s.Name, (new long[] { s.Length }, tau[n]))).ToDictionary(x => x.Name, x => x.Item2)))).ToList();
        BundlePacker.Pack(pre, tasks, new PackOptions { Scheme = Scheme.Tvq, Bits = 4 }, dir);
        return pre;
    }

    [Fact]
    public void The_ties_threshold_is_exact_when_the_low_bits_decide_and_values_repeat()
    {
        // |τ| = 1 + r ulp with r < 300: every entry has the same upper 16 bits, so the second radix pass decides, and
        // r repeats, so the threshold has ties. Signs random.
        var rng = new Random(17);
        var shapes = new[] { ("x.bias", 300), ("y.bias", 123), ("z.norm.weight", 1) };
        var taus = Enumerable.Range(0, 3).Select(_ => shapes.Select(s => Enumerable.Range(0, s.Item2)
            .Select(_ => BitConverter.Int32BitsToSingle(0x3F80_0000 + rng.Next(300)) * (rng.Next(2) == 0 ? -1 : 1)).ToArray()).ToArray()).ToArray();
        using var dir = new TempDir();
        var pre = PackFloat32(dir["b"], shapes, taus);
        var m = ManifestIO.Load(dir["b"]);
        string[] tasks = ["t0", "t1", "t2"];
        var table = StreamingMergeTests.Table(dir["b"], m, pre, tasks);
        foreach (double k in new[] { 0.001, 0.1, 0.37, 0.5, 0.9, 0.999 })
        {
            var recipe = MergeRecipe.Of(MergeMethod.Ties, tasks) with { TopK = k };
            using var merged = BundleMerger.Merge(dir["b"], m, pre, recipe);
            StreamingMergeTests.AssertEqualsReference(merged, pre, table, TiesMerging.Merge(table, k), recipe.ToString());
        }
    }

    [Fact]
    public void A_per_tensor_method_written_against_the_reference_table_plugs_in_through_the_hook()
    {
        using var dir = new TempDir();
        var pre = StreamingMergeTests.Bundle("rtvq", dir["b"]);
        var m = ManifestIO.Load(dir["b"]);
        string[] tasks = ["t0", "t1", "t2", "t3"];
        var table = StreamingMergeTests.Table(dir["b"], m, pre, tasks);
        int calls = 0;
        var hook = new EdgeTvq.Merging.Streaming.PerTensorHook(t => { calls++; return MagMax.Merge([t], 0.25f)[0]; });
        using var merged = BundleMerger.MergeWith(dir["b"], m, pre, tasks, hook, servedTask: "t1");
        Assert.Equal(table.Count, calls);
        StreamingMergeTests.AssertEqualsReference(merged, pre, table, MagMax.Merge(table, 0.25f), "hooked MagMax");
        Assert.Equal(["t1"], merged.OwnTensors.Keys);
    }
}
