using System.Text;
using EdgeTvq.Bundle;
using EdgeTvq.Format;
using EdgeTvq.Merging;
using EdgeTvq.Merging.Methods;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Merging;

/// <summary>Recipe JSON: every method and its defaults, clear errors naming file and field, named recipes in the manifest.</summary>
public class RecipeTests
{
    private static readonly string[] Tasks = ["t0", "t1", "t2", "t3"];

    private static (TempDir Dir, MemorySource Pre, BundleManifest M) Small(string scheme = "tvq4")
    {
        var dir = new TempDir();
        var pre = StreamingMergeTests.Bundle(scheme, dir["b"]);
        return (dir, pre, ManifestIO.Load(dir["b"]));
    }

    private static MergeRecipe FromJson(BundleManifest m, string json, string? served = null) =>
        RecipeDocument.Parse(Encoding.UTF8.GetBytes(json), "r.json").ToRecipe(m, "r.json", served);

    [Fact]
    public void Every_method_parses_with_the_reference_defaults()
    {
        var (dir, _, m) = Small();
        using var _d = dir;
        var ta = FromJson(m, """{"method": "task_arithmetic"}""");
        Assert.Equal(MergeMethod.TaskArithmetic, ta.Method);
        Assert.Equal(Tasks, ta.SelectedTasks);
        Assert.All(ta.Coefficients.Values, v => Assert.Equal(0.3f, v));
        Assert.Equal(MergeMethod.Individual, FromJson(m, """{"method": "individual", "task": "t2"}""").Method);
        Assert.Equal("t1", FromJson(m, """{"method": "individual"}""", served: "t1").Task);
        var ties = FromJson(m, """{"method": "ties"}""");
        Assert.Equal((0.2, 1f), (ties.TopK, ties.EffectiveLambda));
        var disSum = FromJson(m, """{"method": "ties_dis_sum", "params": {"k": 20}}""");
        Assert.Equal((20.0, 0.3f), (disSum.TopK, disSum.EffectiveLambda));
        Assert.Equal(0.5f, FromJson(m, """{"method": "magmax"}""").EffectiveLambda);
        var bc = FromJson(m, """{"method": "breadcrumbs"}""");
        Assert.Equal((0.2f, 0.15, 0.006), (bc.EffectiveLambda, bc.BreadcrumbsBeta, bc.BreadcrumbsGamma));
        var cons = FromJson(m, """{"method": "consensus", "lambda": 0.4, "params": {"k": 3, "tall_lambda": 0.2}}""");
        Assert.Equal((0.4f, 3, 0.2f), (cons.EffectiveLambda, cons.ConsensusK, cons.TallLambda));
        Assert.Equal((2, 0.6f), (FromJson(m, """{"method": "consensus"}""").ConsensusK, FromJson(m, """{"method": "consensus"}""").TallLambda));
        var dare = FromJson(m, """{"method": "dare", "params": {"p": 0.3, "seed": 7}}""");
        Assert.Equal((0.3, 7, 0.3f), (dare.DropRate, dare.Seed, dare.EffectiveLambda));
        var dareTies = FromJson(m, """{"method": "dare_ties", "params": {"p": 0.3, "seed": 7, "k": 0.1}}""");
        Assert.Equal((MergeMethod.DareTies, 0.3, 7, 0.1, 1f), (dareTies.Method, dareTies.DropRate, dareTies.Seed, dareTies.TopK, dareTies.EffectiveLambda));
        var emr = FromJson(m, """{"method": "emr", "tasks": ["t1", "t3"], "task": "t3"}""");
        Assert.Equal((MergeMethod.Emr, "t3"), (emr.Method, emr.Task));
        Assert.Equal(["t1", "t3"], emr.SelectedTasks);
        var tsvM = FromJson(m, """{"method": "tsv_merge"}""");
        Assert.Equal((MergeMethod.TsvMerge, 1f, null), (tsvM.Method, tsvM.EffectiveLambda, tsvM.Task));
        Assert.Equal(0.7f, FromJson(m, """{"method": "tsv_merge", "lambda": 0.7}""").EffectiveLambda);
        var tsvC = FromJson(m, """{"method": "tsv_compress", "tasks": ["t0", "t2"]}""", served: "t2");
        Assert.Equal((MergeMethod.TsvCompress, "t2"), (tsvC.Method, tsvC.Task));
        Assert.Equal(["t0", "t2"], tsvC.SelectedTasks);
        Assert.Equal("t1", tsvC.ForTask("t1").Task);
        Assert.Same(tsvM, tsvM.ForTask("t1"));
        var lines = FromJson(m, """{"method": "lines", "params": {"beta": 0.7}, "block_pattern": "blocks.{i}."}""");
        Assert.Equal(1f / 4 + 0.7f, lines.TensorScale!("blocks.1.mlp.fc2.weight"), 6);
    }

    [Fact]
    public void Task_and_tensor_coefficients_come_from_json()
    {
        var (dir, pre, m) = Small();
        using var _d = dir;
        string tensor = m.Tensors[0].Name;
        var r = FromJson(m, $$$"""
            {"method": "task_arithmetic", "lambda": 0.2, "coefficients": {"t0": 0.5, "t1": 0.1},
             "tensor_coefficients": {"t1": {"{{{tensor}}}": 0.9}}, "tasks": ["t0", "t1", "t2"], "source": "AdaMerging layer-wise, run 3"}
            """);
        Assert.Equal(new Dictionary<string, float> { ["t0"] = 0.5f, ["t1"] = 0.1f, ["t2"] = 0.2f }, r.Coefficients);
        Assert.Equal(0.9f, r.TensorCoefficients!["t1"][tensor]);
        Assert.Equal("AdaMerging layer-wise, run 3", r.Source);
        // Only the keys of "coefficients" when "tasks" is absent.
        Assert.Equal(["t3", "t0"], FromJson(m, """{"method": "task_arithmetic", "coefficients": {"t3": 1, "t0": 0.5}}""").SelectedTasks);
        using var merged = BundleMerger.Merge(dir["b"], m, pre, r);
        Assert.Equal(3, merged.OwnTensors.Count);
    }

    [Theory]
    [InlineData("""{"method": "tsv"}""", "\"method\" is 'tsv', not a merging method")]
    [InlineData("""{"method": null, "tasks": ["t0", "t1"], "params": {"k": 0.2}}""", "\"method\" is missing or null")]
    [InlineData("""{"method": null, "task": "t0"}""", "\"method\" is missing or null")]
    [InlineData("""{"method": "ties", "tasks": ["t0", "nope"]}""", "\"tasks[1]\" names task 'nope', which is not in this bundle")]
    [InlineData("""{"method": "task_arithmetic", "coefficients": {"zz": 0.3}}""", "\"coefficients\" names task 'zz'")]
    [InlineData("""{"method": "task_arithmetic", "tensor_coefficients": {"t0": {"no.such.weight": 0.3}}}""", "\"tensor_coefficients.t0.no.such.weight\" names a tensor that is not in the bundle")]
    [InlineData("""{"method": "task_arithmetic", "coefficients": {"t0": NaN}}""", "r.json: not a valid recipe")]
    [InlineData("""{"method": "task_arithmetic", "coefficients": {"t0": "NaN"}}""", "$.coefficients.t0")]
    [InlineData("""{"method": "ties", "params": {"k": 0}}""", "\"params.k\" is 0; it must lie in (0, 1]")]
    [InlineData("""{"method": "ties", "params": {"k": 101}}""", "\"params.k\" is 101")]
    [InlineData("""{"method": "consensus", "params": {"k": 5}}""", "\"params.k\" is 5; it must lie in 1 … 4")]
    [InlineData("""{"method": "dare", "params": {"p": 1}}""", "\"params.p\" is 1; the drop rate must lie in [0, 1)")]
    [InlineData("""{"method": "magmax", "params": {"k": 2}}""", "\"params.k\" is not a parameter of magmax (it takes none)")]
    [InlineData("""{"method": "ties", "lamda": 1}""", "'lamda' could not be mapped")]
    [InlineData("""{"method": "emr"}""", "\"task\" is missing: EMR builds the model of one task")]
    [InlineData("""{"method": "emr", "tasks": ["t0", "t1"], "task": "t2"}""", "\"task\" 't2' is not among the merged tasks")]
    [InlineData("""{"method": "tsv_compress"}""", "\"task\" is missing: tsv_compress builds the model of one task (name it, or pass --task)")]
    [InlineData("""{"method": "tsv_compress", "tasks": ["t0", "t1"], "task": "t2"}""", "\"task\" 't2' is not among the merged tasks")]
    [InlineData("""{"method": "tsv_compress", "task": "t0", "lambda": 0.5}""", "\"lambda\" is not used by tsv_compress")]
    [InlineData("""{"method": "tsv_merge", "params": {"alpha": 0.5}}""", "\"params.alpha\" is not a parameter of tsv_merge: its α (θ = θ_pre + α·τ_M) is \"lambda\"")]
    [InlineData("""{"method": "tsv_merge", "params": {"k": 2}}""", "\"params.k\" is not a parameter of tsv_merge (it takes none)")]
    [InlineData("""{"method": "tsv_merge", "lambda": NaN}""", "r.json: not a valid recipe")]
    [InlineData("""{"method": "lines", "block_pattern": "blocks."}""", "\"block_pattern\" is 'blocks.'; it needs an {i} placeholder")]
    [InlineData("""{"method": "ties", "coefficients": {"t0": 1}}""", "\"coefficients\" is only for task_arithmetic")]
    [InlineData("""{"method": "ties", "tasks": []}""", "\"tasks\" is empty")]
    public void Bad_recipes_are_refused_naming_the_file_and_the_field(string json, string expected)
    {
        var (dir, _, m) = Small();
        using var _d = dir;
        var e = Assert.ThrowsAny<ArgumentException>(() => FromJson(m, json));
        Assert.StartsWith("r.json: ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void A_programmatic_nan_is_refused()
    {
        var (dir, _, m) = Small();
        using var _d = dir;
        var doc = new RecipeDocument { Method = "task_arithmetic", Coefficients = new() { ["t0"] = double.NaN } };
        Assert.Contains("\"coefficients.t0\" is NaN; it must be a finite number", Assert.Throws<ArgumentException>(() => doc.ToRecipe(m, "api")).Message);
    }

    [Fact]
    public void Named_recipes_live_in_the_manifest_under_its_checksum_and_leave_old_manifests_unchanged()
    {
        var (dir, pre, m) = Small("rtvq");
        using var _d = dir;
        byte[] original = File.ReadAllBytes(dir["b/manifest.json"]);
        File.WriteAllText(dir["ties.json"], """{"method": "ties", "params": {"k": 0.3}, "source": "paper defaults but k"}""");
        Assert.Equal(0, EdgeTvq.Packer.Program.Main(["recipe", "set", "--bundle", dir["b"], "--name", "ties30", "--file", dir["ties.json"]]));
        Assert.Equal(0, EdgeTvq.Packer.Program.Main(["recipe", "set", "--bundle", dir["b"], "--name", "emr", "--file", WriteText(dir["emr.json"], """{"method": "emr"}""")]));
        var loaded = ManifestIO.Load(dir["b"]); // checksum holds
        Assert.Equal(["ties30", "emr"], loaded.Recipes!.Keys);
        Assert.Contains("\"recipes\"", File.ReadAllText(dir["b/manifest.json"]));
        Assert.False(File.Exists(dir["b/manifest.json.partial"]));

        // A named recipe merges exactly like the same recipe from its file.
        var named = BundleRecipes.Resolve(loaded, "ties30");
        var fromFile = BundleRecipes.Resolve(loaded, dir["ties.json"]);
        Assert.Equal((0.3, "paper defaults but k"), (named.TopK, named.Source));
        using (var a = BundleMerger.Merge(dir["b"], loaded, pre, named))
        using (var b = BundleMerger.Merge(dir["b"], loaded, pre, fromFile))
            foreach (var n in a.Weights.Names) Assert.Equal(a.Weights.Span(n).ToArray(), b.Weights.Span(n).ToArray());
        Assert.Equal("t2", BundleRecipes.Resolve(loaded, "emr", "t2").Task);
        Assert.Contains("no recipe 'nope' (it has: ties30, emr)", Assert.Throws<ArgumentException>(() => BundleRecipes.Resolve(loaded, "nope")).Message);

        // The checksum covers the recipes: a hand edit is detected.
        string text = File.ReadAllText(dir["b/manifest.json"]);
        File.WriteAllText(dir["edited.json"], text.Replace("\"k\": 0.3", "\"k\": 0.4"));
        Directory.CreateDirectory(dir["c"]);
        File.Copy(dir["edited.json"], dir["c/manifest.json"]);
        Assert.Contains("checksum mismatch", Assert.Throws<BundleFormatException>(() => ManifestIO.Load(dir["c"])).Message);

        // A bad recipe is refused and the manifest is not touched.
        byte[] before = File.ReadAllBytes(dir["b/manifest.json"]);
        Assert.Equal(2, EdgeTvq.Packer.Program.Main(["recipe", "set", "--bundle", dir["b"], "--name", "bad", "--file", WriteText(dir["bad.json"], """{"method": "ties", "params": {"k": -1}}""")]));
        Assert.Equal(before, File.ReadAllBytes(dir["b/manifest.json"]));

        // Removing every recipe gives back the original manifest byte for byte (old readers see no change).
        Assert.Equal(0, EdgeTvq.Packer.Program.Main(["recipe", "remove", "--bundle", dir["b"], "--name", "ties30"]));
        Assert.Equal(0, EdgeTvq.Packer.Program.Main(["recipe", "remove", "--bundle", dir["b"], "--name", "emr"]));
        Assert.Equal(original, File.ReadAllBytes(dir["b/manifest.json"]));
        Assert.Equal(2, EdgeTvq.Packer.Program.Main(["recipe", "remove", "--bundle", dir["b"], "--name", "emr"]));
        Assert.True(BundleVerifier.Verify(dir["b"]).Ok);
    }

    [Fact]
    public void The_default_recipe_round_trips_through_the_manifest_under_its_checksum()
    {
        var (dir, _, m) = Small("rtvq");
        using var _d = dir;
        byte[] original = File.ReadAllBytes(dir["b/manifest.json"]);
        Assert.DoesNotContain("defaultRecipe", Encoding.UTF8.GetString(original));
        BundleRecipes.SetMany(dir["b"], [("tuned-ta", new RecipeDocument { Method = "task_arithmetic", Lambda = 0.15 }), ("tuned", new RecipeDocument { Method = "task_arithmetic", Lambda = 0.15 })], "tuned", "test");
        var loaded = ManifestIO.Load(dir["b"]); // checksum and validation hold
        Assert.Equal("tuned", loaded.DefaultRecipe);
        Assert.Equal(0.15f, BundleRecipes.Default(loaded, null)!.Coefficients["t3"]);
        string text = File.ReadAllText(dir["b/manifest.json"]);
        Assert.Contains("\"defaultRecipe\": \"tuned\",", text);
        Assert.True(text.IndexOf("\"defaultRecipe\"", StringComparison.Ordinal) < text.LastIndexOf("\"checksum\"", StringComparison.Ordinal));
        Assert.True(BundleVerifier.Verify(dir["b"]).Ok);

        // The checksum covers it: a hand edit is detected.
        Directory.CreateDirectory(dir["c"]);
        File.WriteAllText(dir["c/manifest.json"], text.Replace("\"defaultRecipe\": \"tuned\"", "\"defaultRecipe\": \"tuned-ta\""));
        Assert.Contains("checksum mismatch", Assert.Throws<BundleFormatException>(() => ManifestIO.Load(dir["c"])).Message);
        // A default that names no recipe is refused even with a correct checksum.
        loaded.DefaultRecipe = "nope";
        File.WriteAllBytes(dir["c/manifest.json"], ManifestIO.Serialize(loaded));
        Assert.Contains("defaultRecipe 'nope' names no recipe", Assert.Throws<BundleFormatException>(() => ManifestIO.Load(dir["c"])).Message);
        Assert.Throws<ArgumentException>(() => BundleRecipes.SetDefault(dir["b"], "nope"));

        // The packer's recipe commands: list marks it, remove of the default clears it, clear leaves no trace.
        Assert.Equal(0, EdgeTvq.Packer.Program.Main(["recipe", "default", "--bundle", dir["b"], "--name", "tuned-ta"]));
        Assert.Equal("tuned-ta", ManifestIO.Load(dir["b"]).DefaultRecipe);
        Assert.Equal(0, EdgeTvq.Packer.Program.Main(["recipe", "remove", "--bundle", dir["b"], "--name", "tuned-ta"]));
        Assert.Null(ManifestIO.Load(dir["b"]).DefaultRecipe);
        Assert.Equal(0, EdgeTvq.Packer.Program.Main(["recipe", "default", "--bundle", dir["b"], "--name", "tuned"]));
        Assert.Equal(0, EdgeTvq.Packer.Program.Main(["recipe", "default", "--bundle", dir["b"], "--clear"]));
        Assert.Equal(0, EdgeTvq.Packer.Program.Main(["recipe", "remove", "--bundle", dir["b"], "--name", "tuned"]));
        Assert.Equal(original, File.ReadAllBytes(dir["b/manifest.json"]));
    }

    private static string WriteText(string path, string text)
    {
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void For_task_gives_each_task_its_model()
    {
        var emr = MergeRecipe.Of(MergeMethod.Emr, Tasks, "t0");
        Assert.Equal("t2", emr.ForTask("t2").Task);
        Assert.Equal("t2", MergeRecipe.Individual("t0").ForTask("t2").Task);
        var ties = MergeRecipe.Of(MergeMethod.Ties, Tasks);
        Assert.Same(ties, ties.ForTask("t1"));
    }
}
