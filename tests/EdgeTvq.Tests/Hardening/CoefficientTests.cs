using System.Text;
using EdgeTvq.Bundle;
using EdgeTvq.Merging;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Hardening;

/// <summary>
/// Coefficients are parsed strictly and must be finite as float32 everywhere: typed (serve, --lambda), in recipe
/// files and in the manifest's recipes, and in any recipe handed to the merger. NaN or ±∞ would serve a model whose
/// every output is NaN; "0,3" used to be read as 3.
/// </summary>
public class CoefficientTests
{
    [Theory]
    [InlineData("0.3", 0.3f)]
    [InlineData("-1", -1f)]
    [InlineData("3e-1", 0.3f)]
    [InlineData(".5", 0.5f)]
    public void Plain_numbers_parse(string text, float expected) =>
        Assert.Equal(expected, MergeRecipe.ParseCoefficient(text, "λ"));

    [Theory]
    [InlineData("NaN")]
    [InlineData("nan")]
    [InlineData("Infinity")]
    [InlineData("-∞")]
    [InlineData("1e39")]
    [InlineData("-1e39")]
    [InlineData("0,3")]
    [InlineData("1,000")]
    [InlineData("0x10")]
    [InlineData("")]
    [InlineData(" 0.3 ")]
    [InlineData("0.3f")]
    public void Everything_else_is_refused_naming_the_value(string text)
    {
        var e = Assert.Throws<ArgumentException>(() => MergeRecipe.ParseCoefficient(text, "λ"));
        Assert.Contains("λ", e.Message);
    }

    [Fact]
    public void Factories_refuse_non_finite_coefficients()
    {
        Assert.Throws<ArgumentException>(() => MergeRecipe.TaskArithmetic(["a"], float.NaN));
        Assert.Throws<ArgumentException>(() => MergeRecipe.TaskArithmetic(["a"], float.PositiveInfinity));
        Assert.Throws<ArgumentException>(() => MergeRecipe.LiNeS(["a"], ["blocks.0.w"], float.NaN));
        Assert.Throws<ArgumentException>(() => MergeRecipe.LiNeS(["a"], ["blocks.0.w"], 0.5f, alpha: float.NegativeInfinity));
    }

    public static TheoryData<string> BadRecipeFiles => new()
    {
        """{"method": "task_arithmetic", "lambda": 1e39}""",
        """{"method": "ties", "lambda": -1e39}""",
        """{"method": "task_arithmetic", "coefficients": {"t0": 1e39}}""",
        """{"method": "lines", "params": {"beta": 1e39}}""",
        """{"method": "tsv_merge", "lambda": 3.5e38}""",
        """{"method": "consensus", "params": {"tall_lambda": 1e300}}""",
    };

    [Fact]
    public void A_null_per_tensor_coefficient_table_is_refused_naming_the_task()
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(2, seed: 3);
        var m = BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), new PackOptions { Bits = 4 }, dir["b"]);
        var doc = RecipeDocument.Parse("""{"method": "task_arithmetic", "tensor_coefficients": {"t0": null}}"""u8, "r.json");
        var e = Assert.Throws<ArgumentException>(() => doc.ToRecipe(m, "r.json"));
        Assert.Contains("tensor_coefficients.t0", e.Message);
    }

    [Theory]
    [MemberData(nameof(BadRecipeFiles))]
    public void Recipe_files_with_numbers_beyond_float32_are_refused(string json)
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(2, seed: 3);
        var m = BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), new PackOptions { Bits = 4 }, dir["b"]);
        var doc = RecipeDocument.Parse(Encoding.UTF8.GetBytes(json), "r.json");
        var e = Assert.Throws<ArgumentException>(() => doc.ToRecipe(m, "r.json"));
        Assert.Contains("finite", e.Message);
        Assert.Contains("r.json", e.Message);
    }

    [Fact]
    public void The_merger_refuses_a_recipe_with_a_NaN_however_it_was_built()
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(2, seed: 3);
        var m = BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), new PackOptions { Bits = 4 }, dir["b"]);
        var nan = new MergeRecipe(MergeMethod.TaskArithmetic, new Dictionary<string, float> { ["t0"] = float.NaN, ["t1"] = 0.3f });
        var e = Assert.Throws<ArgumentException>(() => BundleMerger.Merge(dir["b"], m, pre, nan));
        Assert.Contains("t0", e.Message);
        var ties = MergeRecipe.Of(MergeMethod.Ties, ["t0", "t1"]) with { Lambda = float.PositiveInfinity };
        Assert.Throws<ArgumentException>(() => BundleMerger.Merge(dir["b"], m, pre, ties));
        var perTensor = MergeRecipe.TaskArithmetic(["t0", "t1"]) with
        {
            TensorCoefficients = new Dictionary<string, IReadOnlyDictionary<string, float>> { ["t1"] = new Dictionary<string, float> { ["norm.bias"] = float.NaN } },
        };
        Assert.Throws<ArgumentException>(() => BundleMerger.Merge(dir["b"], m, pre, perTensor));
    }
}
