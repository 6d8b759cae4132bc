using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Format;
using EdgeTvq.Merging;
using EdgeTvq.Merging.Methods;
using EdgeTvq.Tests.Format;
using EdgeTvq.Tests.Merging;
using EdgeTvq.Tests.Support;
using EdgeTvq.Tests.Zoo;
using EdgeTvq.TestSupport;

namespace EdgeTvq.Tests.Bundle;

/// <summary>
/// <c>pack --budget</c>: the allocation fits the budget in bytes on disk, is never worse in measured error than the
/// uniform allocation it is given the bytes of, and its bundles (format version 3, per-tensor widths) are read,
/// merged and independently verified like any other.
/// </summary>
public class BudgetAllocationTests
{
    internal static readonly (int? Bits, int? BaseBits, int? OffsetBits)[] TvqWidths = Enumerable.Range(1, 8).Select(b => ((int?)b, (int?)null, (int?)null)).ToArray();
    internal static readonly (int? Bits, int? BaseBits, int? OffsetBits)[] RtvqWidths = [(null, 2, 1), (null, 3, 2), (null, 4, 2), (null, 3, 3), (null, 4, 4), (null, 8, 2)];

    /// <summary>Bytes the budget counts: the base file and every task file on disk, less the task's own tensors and blobs.</summary>
    internal static long CountedBytes(string dir)
    {
        var m = ManifestIO.Load(dir);
        long files = (m.Base is null ? 0 : new FileInfo(Path.Combine(dir, m.Base.File)).Length) + m.Tasks.Sum(t => new FileInfo(Path.Combine(dir, t.File)).Length);
        return files - BundleInspector.Inspect(dir).Tasks.Sum(t => t.OwnTensorBytes);
    }

    /// <summary>Σ over tasks and quantized tensors of ‖τ − τ̂‖², τ = θ_t − θ_pre in float32, τ̂ as the C# decoder reconstructs it.</summary>
    internal static double MeasuredError(string dir, ITensorSource pre, IReadOnlyList<ITensorSource> tasks)
    {
        var m = ManifestIO.Load(dir);
        var quantized = m.Tensors.Where(e => e.Storage == "quantized").ToDictionary(e => e.Name, e => e);
        double sum = 0;
        for (int t = 0; t < m.Tasks.Count; t++)
        {
            var source = tasks[t];
            TaskDecoder.Decode(dir, m, m.Tasks[t], pre, DecodeTarget.TaskVector, d =>
            {
                if (d.IsOwn || !quantized.TryGetValue(d.Name, out var e)) return;
                var p = new float[e.ElementCount];
                var f = new float[e.ElementCount];
                pre.ReadFloat32(e.Name, p);
                source.ReadFloat32(e.Name, f);
                for (int i = 0; i < p.Length; i++)
                {
                    float tau = f[i] - p[i];
                    double diff = (double)tau - d.Values[i];
                    sum += diff * diff;
                }
            });
        }
        return sum;
    }

    private static PackOptions Uniform(Scheme scheme, (int? Bits, int? BaseBits, int? OffsetBits) w) =>
        new() { Scheme = scheme, Bits = w.Bits, BaseBits = w.BaseBits, OffsetBits = w.OffsetBits };

    /// <summary>
    /// For every uniform width: pack it, then pack with a budget of exactly its bytes; the allocated bundle must fit on
    /// disk and its measured error (decoded, summed over tasks) must not exceed the uniform one's.
    /// </summary>
    internal static List<string> CompareWithUniform(ITensorSource pre, IReadOnlyList<ITensorSource> sources, Scheme scheme,
        (int? Bits, int? BaseBits, int? OffsetBits)[] widths, string root)
    {
        var tasks = sources.Select((s, i) => new PackTask($"t{i}", s)).ToList();
        var lines = new List<string>();
        foreach (var w in widths)
        {
            var uniform = Uniform(scheme, w);
            string u = Path.Combine(root, $"u-{w.Bits}-{w.BaseBits}-{w.OffsetBits}"), a = u + "-alloc";
            BundlePacker.Pack(pre, tasks, uniform, u);
            long budget = CountedBytes(u);
            BudgetAllocation? allocation = null;
            BundlePacker.Pack(pre, tasks, new PackOptions { Scheme = scheme, BudgetBytes = budget }, a, allocated: x => allocation = x);
            Assert.True(BundleVerifier.Verify(a).Ok);
            long used = CountedBytes(a);
            Assert.True(used <= budget, $"{uniform}: the allocated bundle takes {used} bytes, over the budget of {budget}");
            Assert.Equal(allocation!.PredictedBytes, used);
            double eu = MeasuredError(u, pre, sources), ea = MeasuredError(a, pre, sources);
            Assert.True(ea <= eu * (1 + 1e-9), $"{uniform}: allocated error {ea:R} is above the uniform error {eu:R} at {budget} bytes");
            lines.Add($"{w}: {budget} B uniform {eu:E4}, allocated {ea:E4} ({used} B, {ea / eu:F3}x, start {allocation.Start})");
        }
        return lines;
    }

    [Theory]
    [InlineData("tvq", 3)]
    [InlineData("tvq", 8)]
    [InlineData("rtvq", 3)]
    [InlineData("fq", 4)]
    public void On_random_task_vectors_the_allocation_fits_and_is_never_worse_than_uniform_at_equal_bytes(string scheme, int seed)
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(4, seed);
        var s = PackOptions.ParseScheme(scheme);
        CompareWithUniform(pre, tasks, s, s == Scheme.Rtvq ? RtvqWidths : s == Scheme.Fq ? TvqWidths[3..] : TvqWidths, dir.Path);
    }

    [Fact]
    public void Budget_bits_are_stored_bits_per_parameter_per_task_and_inspect_shows_the_allocation()
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(3, seed: 11);
        var packTasks = tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList();
        foreach (double budget in new[] { 18.0, 22.0, 30.0 })
        {
            string b = dir[$"b{budget}"];
            BundlePacker.Pack(pre, packTasks, new PackOptions { Scheme = Scheme.Tvq, BudgetBits = budget }, b);
            var report = BundleInspector.Inspect(b);
            Assert.True(report.StoredBitsPerParameter <= budget, $"{report.StoredBitsPerParameter} stored bits per parameter over a budget of {budget}");
            Assert.Equal(CountedBytes(b) * 8.0 / (report.Parameters * 3.0), report.StoredBitsPerParameter, 12);
            Assert.True(report.PerTensorWidths);
            Assert.Equal(report.QuantizedParameters, report.TaskWidths.Sum(w => w.Parameters));
            var m = ManifestIO.Load(b);
            Assert.Equal(3, m.FormatVersion);
            Assert.All(m.Tensors.Where(e => e.Storage == "quantized"), e => Assert.Equal(e.Bits, report.Tensors.Single(x => x.Name == e.Name).Bits));
        }
        var ex = Assert.Throws<ArgumentException>(() => BundlePacker.Pack(pre, packTasks, new PackOptions { Scheme = Scheme.Tvq, BudgetBits = 0.5 }, dir["small"]));
        Assert.Contains("below the smallest bundle", ex.Message);
        Assert.Throws<ArgumentException>(() => BundlePacker.Pack(pre, packTasks, new PackOptions { Scheme = Scheme.Tvq, Bits = 3, BudgetBits = 8 }, dir["both"]));
    }

    /// <summary>A bundle whose tensors have different widths: one tensor weighted far above the others gets more bits.</summary>
    internal static (MemorySource Pre, List<MemorySource> Tasks) MixedBundle(Scheme scheme, string dir, int tasks = 4, int seed = 5)
    {
        var (pre, sources) = MemorySource.SmallModel(tasks, seed);
        var options = new PackOptions
        {
            Scheme = scheme, BudgetBits = 20,
            Sensitivity = new Dictionary<string, double> { ["blocks.0.attn.qkv.weight"] = 1e6, ["patch_embed.proj.weight"] = 1e-6 },
        };
        BundlePacker.Pack(pre, sources.Select((s, i) => new PackTask($"t{i}", s)).ToList(), options, dir);
        var m = ManifestIO.Load(dir);
        var o = ManifestIO.OptionsOf(m);
        var widths = m.Tensors.Where(e => e.Storage == "quantized").Select(o.TaskBitsOf).Distinct().ToList();
        Assert.True(widths.Count >= 2, $"expected different widths, got {string.Join(",", widths)}");
        var qkv = m.Tensors.Single(e => e.Name == "blocks.0.attn.qkv.weight");
        var patch = m.Tensors.Single(e => e.Name == "patch_embed.proj.weight");
        Assert.True(o.TaskBitsOf(qkv) > o.TaskBitsOf(patch) || (scheme == Scheme.Rtvq && o.BaseBitsOf(qkv) > o.BaseBitsOf(patch)), "the sensitivity weights did not steer the widths");
        return (pre, sources);
    }

    [Theory]
    [InlineData("tvq")]
    [InlineData("rtvq")]
    [InlineData("fq")]
    public void Fused_merges_of_an_allocated_bundle_equal_the_scalar_reference(string scheme)
    {
        using var dir = new TempDir();
        var (pre, _) = MixedBundle(PackOptions.ParseScheme(scheme), dir["b"]);
        var m = ManifestIO.Load(dir["b"]);
        var lambdas = new Dictionary<string, float> { ["t0"] = 0.3f, ["t1"] = 0.7f, ["t2"] = 0f, ["t3"] = -0.45f };
        var expected = FusedMergeTests.ScalarReference(dir["b"], pre, lambdas);
        foreach (int threads in new[] { 1, 2 })
        {
            using var merged = BundleMerger.Merge(dir["b"], m, pre, new MergeRecipe(MergeMethod.TaskArithmetic, lambdas), threads: threads);
            FusedMergeTests.AssertBitIdentical(expected, merged.Weights, $"{scheme}, {threads} threads");
        }
        // The device path: θ_pre and dq(base) cached by the first merge, used by the next.
        using var cache = new MergeCache(pre, m);
        using (var first = BundleMerger.Merge(dir["b"], m, cache, new MergeRecipe(MergeMethod.TaskArithmetic, lambdas), threads: 2))
            FusedMergeTests.AssertBitIdentical(expected, first.Weights, $"{scheme}, filling the cache");
        using var second = BundleMerger.Merge(dir["b"], m, cache, new MergeRecipe(MergeMethod.TaskArithmetic, lambdas), threads: 2);
        FusedMergeTests.AssertBitIdentical(expected, second.Weights, $"{scheme}, from the cache");
    }

    [Theory]
    [InlineData("tvq")]
    [InlineData("rtvq")]
    public void General_merges_of_an_allocated_bundle_equal_the_in_memory_reference(string scheme)
    {
        using var dir = new TempDir();
        var (pre, _) = MixedBundle(PackOptions.ParseScheme(scheme), dir["b"]);
        var m = ManifestIO.Load(dir["b"]);
        string[] names = ["t0", "t1", "t2", "t3"];
        var table = StreamingMergeTests.Table(dir["b"], m, pre, names);
        using (var merged = BundleMerger.Merge(dir["b"], m, pre, MergeRecipe.Of(MergeMethod.Ties, names)))
            StreamingMergeTests.AssertEqualsReference(merged, pre, table, TiesMerging.Merge(table), $"{scheme} ties");
        using (var merged = BundleMerger.Merge(dir["b"], m, pre, MergeRecipe.Of(MergeMethod.MagMax, names)))
            StreamingMergeTests.AssertEqualsReference(merged, pre, table, MagMax.Merge(table), $"{scheme} magmax");
    }

    [Theory]
    [InlineData("tvq")]
    [InlineData("rtvq")]
    [InlineData("fq")]
    public void The_independent_reader_verifies_and_decodes_an_allocated_bundle(string scheme)
    {
        using var dir = new TempDir();
        var (pre, _) = MixedBundle(PackOptions.ParseScheme(scheme), dir["b"], tasks: 2);
        var (code, output) = IndependentReaderTests.Python("verify", dir["b"]);
        Assert.True(code == 0, output);
        Directory.CreateDirectory(dir["pre"]);
        foreach (var (name, (_, values)) in pre.Data)
            File.WriteAllBytes(Path.Combine(dir["pre"], name + ".f32"), System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
        var m = ManifestIO.Load(dir["b"]);
        var expected = new Dictionary<string, float[]>();
        TaskDecoder.Decode(dir["b"], m, m.Tasks[1], scheme == "fq" ? pre : null, DecodeTarget.TaskVector, d => expected[d.Name] = d.Values);
        (code, output) = IndependentReaderTests.Python(scheme == "fq" ? ["decode", dir["b"], "t1", dir["out"], "--pretrained-bin", dir["pre"]] : ["decode", dir["b"], "t1", dir["out"]]);
        Assert.True(code == 0, output);
        using var index = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir["out"], "index.json")));
        foreach (var e in index.RootElement.GetProperty("tensors").EnumerateArray())
        {
            var bytes = File.ReadAllBytes(Path.Combine(dir["out"], e.GetProperty("file").GetString()!));
            Assert.True(System.Runtime.InteropServices.MemoryMarshal.AsBytes(expected[e.GetProperty("name").GetString()!].AsSpan()).SequenceEqual(bytes));
        }
    }

    [Theory]
    [InlineData("tvq")]
    [InlineData("rtvq")]
    public void Every_file_of_an_allocated_bundle_is_version_3_and_a_width_that_differs_from_the_table_is_refused(string scheme)
    {
        using var dir = new TempDir();
        var (pre, sources) = MixedBundle(PackOptions.ParseScheme(scheme), dir["b"]);
        static ushort Version(string path) => System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(File.ReadAllBytes(path).AsSpan(FileHeader.OffVersion));
        Assert.All(Directory.GetFiles(dir["b"], "*.tvq?"), f => Assert.Equal(3, Version(f)));

        // add-task writes the table's widths into the new file (version 3), and the bundle stays valid.
        BundlePacker.AddTask(dir["b"], pre, new PackTask("late", sources[0]));
        Assert.Equal(3, Version(dir["b/late.tvqt"]));
        Assert.True(BundleVerifier.Verify(dir["b"]).Ok);

        // A manifest that claims another width for a tensor than its records have: refused, naming the tensor.
        var m = ManifestIO.Load(dir["b"]);
        var e = m.Tensors.First(t => t.Storage == "quantized");
        if (scheme == "rtvq") e.OffsetBits = e.OffsetBits % 8 + 1;
        else e.Bits = e.Bits % 8 + 1;
        ManifestIO.Save(m, dir["b"]);
        var result = BundleVerifier.Verify(dir["b"]);
        Assert.False(result.Ok);
        Assert.Contains(result.Problems, p => p.Contains("for this tensor"));
        var (code, output) = IndependentReaderTests.Python("verify", dir["b"]);
        Assert.True(code == 1, output);

        // Widths of its own on a tensor of a version-2 manifest, or on a full tensor: refused when the manifest is read.
        var bytes = System.Text.Encoding.UTF8.GetString(ManifestIO.Serialize(m)).Replace("\"formatVersion\": 3", "\"formatVersion\": 2");
        Assert.Throws<BundleFormatException>(() => ManifestIO.Parse(Rechecksum(bytes), "manifest.json"));
        m.Tensors.First(t => t.Storage == "full").Bits = 4;
        Assert.Throws<BundleFormatException>(() => ManifestIO.Parse(Rechecksum(System.Text.Encoding.UTF8.GetString(ManifestIO.Serialize(m))), "manifest.json"));
    }

    /// <summary>Recomputes the checksum of an edited manifest text so that only the edit is judged.</summary>
    private static byte[] Rechecksum(string text)
    {
        int at = text.LastIndexOf("\"checksum\": \"", StringComparison.Ordinal) + "\"checksum\": \"".Length;
        var bytes = System.Text.Encoding.UTF8.GetBytes(text[..at] + ManifestIO.ChecksumPlaceholder + text[(at + 16)..]);
        string hex = System.IO.Hashing.XxHash64.HashToUInt64(bytes).ToString("x16");
        return System.Text.Encoding.UTF8.GetBytes(text[..at] + hex + text[(at + 16)..]);
    }

    [Fact]
    public void Uniform_bundles_are_unchanged_by_the_new_version()
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(2, seed: 3);
        BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 }, dir["b"]);
        Assert.Equal(1, ManifestIO.Load(dir["b"]).FormatVersion);
        Assert.DoesNotContain("\"bits\": ", File.ReadAllText(dir["b/manifest.json"]).Split("\"tensors\"")[1].Split("\"base\"")[0]);
        Assert.All(Directory.GetFiles(dir["b"], "*.tvq?"), f => Assert.Equal(1, System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(File.ReadAllBytes(f).AsSpan(FileHeader.OffVersion))));
    }

    [Fact]
    public void The_allocator_respects_the_budget_and_beats_every_uniform_choice_that_fits_on_random_menus()
    {
        var rng = new Random(9);
        for (int round = 0; round < 200; round++)
        {
            int n = rng.Next(1, 12), k = rng.Next(2, 9);
            var menus = Enumerable.Range(0, n).Select(i =>
            {
                long size = rng.Next(1, 5000);
                var cost = Enumerable.Range(0, k).Select(b => 40 + size * (b + 1) / 8 + rng.Next(0, 30)).ToArray();
                var error = Enumerable.Range(0, k).Select(b => size * Math.Pow(4, -b) * (0.5 + rng.NextDouble())).ToArray();
                return new TensorMenu($"x{i}", size, cost, error);
            }).ToList();
            long fixedBytes = rng.Next(0, 1000);
            long min = fixedBytes + menus.Sum(m => m.Cost.Min()), max = fixedBytes + menus.Sum(m => m.Cost.Max());
            long budget = min + (long)((max - min) * rng.NextDouble());
            var a = BitAllocator.Allocate(menus, fixedBytes, budget);
            Assert.True(a.Bytes <= budget);
            for (int u = 0; u < k; u++)
            {
                var c = Enumerable.Repeat(u, n).ToArray();
                if (BitAllocator.Bytes(menus, c, fixedBytes) <= budget) Assert.True(a.Error <= BitAllocator.Error(menus, c));
            }
        }
    }
}

[Collection(ZooCollection.Name)]
public class BudgetAllocationZooTests(ZooFixture zoo)
{
    [Theory]
    [InlineData("tvq")]
    [InlineData("rtvq")]
    public void On_the_quick_zoo_the_allocation_fits_and_is_never_worse_than_uniform_at_equal_bytes(string scheme)
    {
        using var dir = new TempDir();
        using var pre = new CheckpointTensorSource(zoo.File_("pretrained_pt"));
        var sources = zoo.Tasks.Select(t => new CheckpointTensorSource(t.Pt)).ToList();
        try
        {
            var s = PackOptions.ParseScheme(scheme);
            var lines = BudgetAllocationTests.CompareWithUniform(pre, sources, s,
                s == Scheme.Rtvq ? BudgetAllocationTests.RtvqWidths[..5] : BudgetAllocationTests.TvqWidths[..6], dir.Path);
            foreach (var l in lines) Console.WriteLine($"quick zoo {scheme} {l}");
        }
        finally
        {
            foreach (var x in sources) x.Dispose();
        }
    }
}
