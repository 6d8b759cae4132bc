using System.Text;
using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Merging;
using EdgeTvq.Merging.Registry;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Merging;

/// <summary>
/// The method registry: one descriptor per <see cref="MergeMethod"/>, every method reachable by name from recipe JSON
/// and from <c>edgetvq-pack merge --method</c>, whose file holds the device path's weights bit for bit.
/// </summary>
public class MethodRegistryTests
{
    private static readonly string[] Tasks = ["t0", "t1", "t2", "t3"];

    public static TheoryData<string> Names => new(MethodRegistry.All.SelectMany(d => d.Aliases.Prepend(d.Name)));

    public static TheoryData<string, string> NamesBySchemes
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (var scheme in new[] { "rtvq", "fq" })
                foreach (var d in MethodRegistry.All) data.Add(d.Name, scheme);
            return data;
        }
    }

    [Fact]
    public void Every_method_has_one_descriptor_and_every_name_one_method()
    {
        Assert.Equal(Enum.GetValues<MergeMethod>(), MethodRegistry.All.Select(d => d.Method));
        foreach (var method in Enum.GetValues<MergeMethod>()) Assert.Equal(method, MethodRegistry.Of(method).Method);
        var names = MethodRegistry.All.SelectMany(d => d.Aliases.Prepend(d.Name)).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
        Assert.Equal(MethodRegistry.Names, MergeRecipe.MethodNames);
        Assert.Equal(MergeMethod.TaskArithmetic, MergeRecipe.ParseMethod("ta"));
        Assert.Null(MergeRecipe.ParseMethod("TIES"));
        Assert.Equal(MethodRegistry.All.Count, MethodRegistry.Usage().Count());
        // The fused family and the per-task methods, as docs/merging.md lists them.
        Assert.Equal(["individual", "task_arithmetic", "lines"], MethodRegistry.All.Where(d => d.IsFused).Select(d => d.Name));
        Assert.Equal(["individual", "emr", "tsv_compress"], MethodRegistry.All.Where(d => d.ServesOneTask).Select(d => d.Name));
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Every_method_is_reachable_from_recipe_json(string name)
    {
        using var dir = new TempDir();
        StreamingMergeTests.Bundle("tvq4", dir["b"]);
        var m = ManifestIO.Load(dir["b"]);
        var d = MethodRegistry.Find(name)!;
        var doc = RecipeDocument.Parse(Encoding.UTF8.GetBytes($$"""{"method": "{{name}}"}"""), "r.json");
        var recipe = doc.ToRecipe(m, "r.json", "t1");
        Assert.Equal(d.Method, recipe.Method);
        Assert.Equal(d.ServesOneTask ? "t1" : null, recipe.Task);
        Assert.Equal(d.ServesOneTask && d.Method == MergeMethod.Individual ? ["t1"] : Tasks, recipe.SelectedTasks);
        Assert.Equal(d.IsFused, recipe.IsFused);
        Assert.Same(d, recipe.Descriptor);
        Assert.False(string.IsNullOrEmpty(recipe.ToString()));
        // Defaults from the registry equal what MergeRecipe.Of gives (LiNeS needs the tensor names).
        if (d.Method != MergeMethod.LiNeS)
            Assert.Equal(MergeRecipe.Of(d.Method, Tasks, "t1").ToString(), MethodRegistry.DefaultRecipe(name, m, Tasks, "t1").ToString());
        // Every parameter of the method is accepted by name with its default value.
        if (d.Parameters.Count > 0)
        {
            var withParams = new RecipeDocument { Method = name, Params = d.Parameters.Where(p => p.Default is not null).ToDictionary(p => p.Name, p => p.Default!.Value) };
            Assert.Equal(recipe.ToString(), withParams.ToRecipe(m, "r.json", "t1").ToString());
        }
    }

    [Fact]
    public void An_unknown_method_is_refused_with_the_list()
    {
        using var dir = new TempDir();
        StreamingMergeTests.Bundle("tvq4", dir["b"]);
        var m = ManifestIO.Load(dir["b"]);
        var e = Assert.Throws<ArgumentException>(() => RecipeDocument.Parse("""{"method": "nope"}"""u8, "r.json").ToRecipe(m, "r.json"));
        Assert.Equal($"r.json: \"method\" is 'nope', not a merging method; known: {MethodRegistry.KnownNames}", e.Message);
        Assert.All(MethodRegistry.Names, n => Assert.Contains(n, e.Message));
        Assert.Contains("unknown method 'nope'; known: individual, task_arithmetic (ta), ", Assert.Throws<ArgumentException>(() => MethodRegistry.Get("nope", "x")).Message);
    }

    /// <summary><c>edgetvq-pack merge --method M</c> writes exactly the weights <see cref="BundleMerger"/> merges on the device, for every method.</summary>
    [Theory]
    [MemberData(nameof(NamesBySchemes))]
    public void Pack_merge_of_every_method_equals_the_device_merge(string name, string scheme)
    {
        using var dir = new TempDir();
        var pre = StreamingMergeTests.Bundle(scheme, dir["b"]);
        var m = ManifestIO.Load(dir["b"]);
        SafetensorsWriter.WriteFloat32(dir["pre.safetensors"], pre.Data.Select(kv => (kv.Key, kv.Value.Shape, kv.Value.Values)));
        var d = MethodRegistry.Find(name)!;
        string? task = d.ServesOneTask ? "t2" : null;
        string[] taskArgs = task is null ? [] : ["--task", task];
        Assert.Equal(0, EdgeTvq.Packer.Program.Main(["merge", "--bundle", dir["b"], "--pretrained", dir["pre.safetensors"], "--method", name, .. taskArgs, "--out", dir["m.safetensors"]]));

        var recipe = MethodRegistry.DefaultRecipe(name, m, Tasks, task);
        using var device = BundleMerger.Merge(dir["b"], m, pre, recipe);
        using var offline = CheckpointReader.Open(dir["m.safetensors"]);
        var expected = device.Weights.Names.Select(n => (n, device.Weights.Span(n).ToArray())).ToList();
        if (task is not null)
        {
            var own = device.OwnTensors[task];
            Assert.NotEmpty(own.Names);
            expected.AddRange(own.Names.Select(n => (n, own.Span(n).ToArray())));
        }
        Assert.Equal(expected.Select(e => e.n).Order(), offline.Tensors.Select(t => t.Name).Order());
        foreach (var (tensor, values) in expected)
        {
            var got = offline.Find(tensor)!.ToFloat32Array();
            Assert.Equal(values.Length, got.Length);
            for (int i = 0; i < got.Length; i++)
                if (BitConverter.SingleToInt32Bits(values[i]) != BitConverter.SingleToInt32Bits(got[i]))
                    Assert.Fail($"{name}/{scheme}: {tensor}[{i}] device {values[i]:R}, edgetvq-pack merge {got[i]:R}");
        }
    }

    [Fact]
    public void Pack_merge_takes_tasks_lambda_and_params_and_refuses_what_the_method_does_not_take()
    {
        using var dir = new TempDir();
        var pre = StreamingMergeTests.Bundle("tvq4", dir["b"]);
        var m = ManifestIO.Load(dir["b"]);
        var ties = EdgeTvq.Packer.Commands.MergeCommand.Recipe(m, "ties", null, ["t0,t2"], null, 0.7f, null, ["k=0.3"]);
        Assert.Equal((MergeMethod.Ties, 0.3, 0.7f), (ties.Method, ties.TopK, ties.EffectiveLambda));
        Assert.Equal(["t0", "t2"], ties.SelectedTasks);
        Assert.Equal(0.5f, EdgeTvq.Packer.Commands.MergeCommand.Recipe(m, "tsv_merge", null, null, null, null, 0.5f, []).EffectiveLambda);
        ArgumentException Refused(string method, string? task, float? lambda, params string[] ps) =>
            Assert.ThrowsAny<ArgumentException>(() => EdgeTvq.Packer.Commands.MergeCommand.Recipe(m, method, null, null, task, lambda, null, ps));
        Assert.Contains("\"params.k\" is not a parameter of magmax", Refused("magmax", null, null, "k=2").Message);
        Assert.Contains("--lambda is not used by tsv_compress", Refused("tsv_compress", "t1", 0.5f).Message);
        Assert.Contains("--task is for the methods that build one task's model", Refused("ties", "t1", null).Message);
        Assert.Contains("\"params.p\" is 1; the drop rate must lie in [0, 1)", Refused("dare", null, null, "p=1").Message);
    }
}
