using EdgeTvq.Bundle;
using EdgeTvq.Merging;
using EdgeTvq.Merging.Registry;
using EdgeTvq.Runtime.Commands;

namespace EdgeTvq.Runtime.Tests.Commands;

/// <summary><c>--merge METHOD</c> and serve's <c>use METHOD</c> reach every method of the registry by name; an unknown name is refused with the list.</summary>
public class MergeOptionTests
{
    private static BundleManifest Manifest() => new()
    {
        Tasks = [new TaskEntry { Name = "a" }, new TaskEntry { Name = "b" }, new TaskEntry { Name = "c" }],
        Tensors = [new TensorEntry { Name = "blocks.0.w", Shape = [4, 4], Storage = "quantized" }, new TensorEntry { Name = "blocks.1.w", Shape = [4, 4], Storage = "quantized" }],
    };

    public static TheoryData<string> Names => new(MethodRegistry.All.SelectMany(d => d.Aliases.Prepend(d.Name)));

    [Theory]
    [MemberData(nameof(Names))]
    public void Every_method_is_reachable_from_merge(string name)
    {
        var d = MethodRegistry.Find(name)!;
        var recipe = RuntimeOptions.Recipe("b", name, null, null, Manifest());
        Assert.Equal(d.Method, recipe.Method);
        Assert.Equal(d.ServesOneTask ? "b" : null, recipe.Task);
        if (d.ServesOneTask)
        {
            var e = Assert.Throws<ArgumentException>(() => RuntimeOptions.Recipe(null, name, null, null, Manifest()));
            Assert.Contains($"--merge {d.Name} builds one task's model: it needs --task", e.Message);
        }
        if (d.Lambda == LambdaUse.Scales)
        {
            var r = RuntimeOptions.Recipe(null, name, 0.25f, null, Manifest(), ["a", "c"]);
            Assert.Equal(["a", "c"], r.SelectedTasks);
            Assert.Equal(0.25f, d.TakesCoefficients ? r.Coefficients["c"] : r.EffectiveLambda);
        }
        Assert.Contains(d.Name, RuntimeOptions.MergeHelp);
        Assert.Contains(d.Aliases.Prepend(d.Name).MinBy(n => n.Length)!, ServeCommand.Commands);
    }

    [Fact]
    public void The_command_line_builds_what_the_recipe_file_builds()
    {
        var m = Manifest();
        Assert.Equal(0.3f, RuntimeOptions.Recipe(null, "ta", null, null, m).Coefficients["a"]);
        var lines = RuntimeOptions.Recipe(null, "lines", null, 0.7f, m);
        Assert.Equal(1f / 3 + 0.7f, lines.TensorScale!("blocks.1.w"), 6);
        // --beta is LiNeS's: other methods keep their own β.
        Assert.Equal(0.15, RuntimeOptions.Recipe(null, "breadcrumbs", null, 0.7f, m).BreadcrumbsBeta);
        Assert.Equal(0.2, RuntimeOptions.Recipe(null, "ties", null, null, m, parameters: new Dictionary<string, double> { ["k"] = 0.2 }).TopK);
        Assert.Contains("--lambda is not used by tsv_compress", Assert.Throws<ArgumentException>(() => RuntimeOptions.Recipe("a", "tsv_compress", 0.5f, null, m)).Message);
    }

    [Fact]
    public void An_unknown_method_is_refused_with_the_list()
    {
        var e = Assert.Throws<ArgumentException>(() => RuntimeOptions.Recipe("a", "bogus", null, null, Manifest()));
        Assert.Equal($"--merge: unknown method 'bogus'; known: {MethodRegistry.KnownNames}", e.Message);
        Assert.All(MethodRegistry.Names, n => Assert.Contains(n, e.Message));
    }
}
