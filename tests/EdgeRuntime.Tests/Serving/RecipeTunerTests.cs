using EdgeTvq.Bundle;
using EdgeTvq.Merging;
using EdgeTvq.Merging.Registry;
using EdgeTvq.Runtime.Commands;
using EdgeTvq.Runtime.Serving;

namespace EdgeTvq.Runtime.Tests.Serving;

/// <summary>
/// The grid search of <c>edgetvq-pack tune</c> (<see cref="RecipeTuner"/>) with a scorer whose best point is known,
/// and the bundle's default recipe as run and serve pick it (<see cref="RuntimeOptions.Recipe"/>).
/// </summary>
public class RecipeTunerTests
{
    private static readonly string[] Tasks = ["a", "b", "c"];

    [Fact]
    public void The_grids_are_the_reference_ranges()
    {
        var ta = RecipeTuner.Grid("ta", Tasks);
        Assert.Equal(20, ta.Count);
        Assert.Equal(Enumerable.Range(1, 20).Select(i => Math.Round(0.05 * i, 2)), ta.Select(p => p.Recipe.Lambda!.Value));
        Assert.All(ta, p => Assert.Equal(Tasks, p.Recipe.Tasks));
        var ties = RecipeTuner.Grid("ties", Tasks);
        Assert.Equal(60, ties.Count);
        Assert.Equal([0.1, 0.2, 0.3], ties.Select(p => p.Recipe.Params!["k"]).Distinct());
        // Consensus's k counts tasks: never more than are merged.
        Assert.Equal([1.0, 2.0], RecipeTuner.Grid("consensus", ["a", "b"]).Select(p => p.Recipe.Params!["k"]).Distinct());
        Assert.Equal(60, RecipeTuner.Grid("consensus", Tasks).Count);
        var lines = RecipeTuner.Grid("lines", Tasks);
        Assert.Equal(20, lines.Count);
        Assert.All(lines, p => Assert.Null(p.Recipe.Lambda));
        Assert.Equal(1.0, lines[^1].Recipe.Params!["beta"]);
        Assert.Single(RecipeTuner.Grid("emr", Tasks));
        // Every grid point is a valid recipe for a bundle of those tasks.
        var m = new BundleManifest
        {
            Tasks = [.. Tasks.Select(t => new TaskEntry { Name = t })],
            Tensors = [new TensorEntry { Name = "blocks.0.w", Shape = [4, 4], Storage = "quantized" }, new TensorEntry { Name = "blocks.1.w", Shape = [4, 4], Storage = "quantized" }],
        };
        foreach (var method in RecipeTuner.DefaultMethods)
            foreach (var (_, doc) in RecipeTuner.Grid(method, Tasks))
                doc.ToRecipe(m, "grid", servedTask: "a");
    }

    [Fact]
    public void The_search_picks_the_grid_point_with_the_best_mean_validation_accuracy()
    {
        // Task a peaks at λ = 0.3, task b at λ = 0.5 (and for TIES at k = 0.2): the mean peaks at λ = 0.4.
        var calls = new List<RecipeDocument>();
        IReadOnlyDictionary<string, double> Score(RecipeDocument r)
        {
            calls.Add(r);
            double l = r.Lambda ?? 0, k = r.Params?.GetValueOrDefault("k") ?? 0.2;
            double penalty = r.Method == "ties" ? 4 * Math.Abs(k - 0.2) : 0;
            return new Dictionary<string, double> { ["a"] = 0.9 - (l - 0.3) * (l - 0.3) - penalty, ["b"] = 0.8 - (l - 0.5) * (l - 0.5) - penalty };
        }
        var result = RecipeTuner.Search(Tasks, ["ta", "ties", "emr"], Score);
        Assert.Equal(20 + 60 + 1, result.Grid.Count);
        Assert.Equal(result.Grid.Count, calls.Count);
        var ta = result.BestPerMethod[0];
        Assert.Equal(("task_arithmetic", 0.4), (ta.Method, ta.Recipe.Lambda!.Value));
        Assert.Equal(0.85 - 0.01, ta.Mean, 12);
        var ties = result.BestPerMethod[1];
        Assert.Equal((0.4, 0.2), (ties.Recipe.Lambda!.Value, ties.Recipe.Params!["k"]));
        // The exhaustive maximum over the whole grid is what was chosen.
        Assert.Equal(result.Grid.Max(p => p.Mean), result.Best.Mean);
        Assert.Equal("task_arithmetic", result.Best.Method); // ties with TIES: the method asked for first wins
        Assert.Equal("emr", result.BestPerMethod[2].Method);
    }

    [Fact]
    public void Ties_go_to_the_earlier_grid_point()
    {
        var flat = RecipeTuner.Search(Tasks, ["consensus", "ta"], _ => new Dictionary<string, double> { ["a"] = 0.5 });
        Assert.Equal(("consensus", 0.05, 1.0), (flat.Best.Method, flat.Best.Recipe.Lambda!.Value, flat.Best.Recipe.Params!["k"]));
        Assert.Equal(0.05, flat.BestPerMethod[1].Recipe.Lambda);
        Assert.Contains("--validation", Assert.Throws<ArgumentException>(() => RecipeTuner.Search(Tasks, ["ta"], _ => new Dictionary<string, double>())).Message);
        Assert.Contains("unknown method 'bogus'", Assert.Throws<ArgumentException>(() => RecipeTuner.Search(Tasks, ["bogus"], _ => new Dictionary<string, double> { ["a"] = 1 })).Message);
    }

    private static BundleManifest WithDefault(string? defaultName)
    {
        var m = new BundleManifest
        {
            Tasks = [.. Tasks.Select(t => new TaskEntry { Name = t })],
            Tensors = [new TensorEntry { Name = "blocks.0.w", Shape = [4, 4], Storage = "quantized" }],
            Recipes = new()
            {
                ["tuned-task_arithmetic"] = new RecipeDocument { Method = "task_arithmetic", Tasks = [.. Tasks], Lambda = 0.15 },
                ["tuned-emr"] = new RecipeDocument { Method = "emr", Tasks = [.. Tasks] },
            },
            DefaultRecipe = defaultName,
        };
        return m;
    }

    [Fact]
    public void Run_and_serve_use_the_default_recipe_when_no_merge_option_is_given()
    {
        var m = WithDefault("tuned-task_arithmetic");
        var recipe = RuntimeOptions.Recipe("b", null, null, null, m);
        Assert.Equal(MergeMethod.TaskArithmetic, recipe.Method);
        Assert.Equal(0.15f, recipe.Coefficients["c"]);
        // --individual stays explicit; --merge and --recipe win over the default.
        Assert.Equal((MergeMethod.Individual, "b"), (RuntimeOptions.Recipe("b", null, null, null, m, individual: true).Method, RuntimeOptions.Recipe("b", null, null, null, m, individual: true).Task));
        Assert.Equal(0.3f, RuntimeOptions.Recipe("b", "ta", null, null, m).Coefficients["a"]);
        Assert.Equal(MergeMethod.Emr, RuntimeOptions.Recipe("b", null, null, null, m, recipe: "tuned-emr").Method);
        Assert.Contains("need --merge METHOD", Assert.Throws<ArgumentException>(() => RuntimeOptions.Recipe("b", null, 0.5f, null, m)).Message);
        // Serve's start recipe: the default, for the served task when it is a per-task method.
        Assert.Equal(MergeMethod.TaskArithmetic, BundleRecipes.Default(m, null)!.Method);
        var emr = BundleRecipes.Default(WithDefault("tuned-emr"), "c")!;
        Assert.Equal((MergeMethod.Emr, "c"), (emr.Method, emr.Task));
        // Without a default: individual as before.
        Assert.Equal(MergeMethod.Individual, RuntimeOptions.Recipe("b", null, null, null, WithDefault(null)).Method);
        Assert.Null(BundleRecipes.Default(WithDefault(null), "b"));
    }
}
