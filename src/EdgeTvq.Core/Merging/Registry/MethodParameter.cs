using System.Globalization;

namespace EdgeTvq.Merging.Registry;

/// <summary>
/// One hyperparameter of a method, as recipe JSON's "params" names it: default, check and where it goes in the
/// recipe. <see cref="Check"/> gets the request (for ranges that depend on it, e.g. the number of merged tasks) and
/// returns the value to use or throws through <see cref="RecipeRequest.Bad"/>.
/// </summary>
/// <param name="Name">the "params" member</param>
/// <param name="Default">the value when absent (null: the method works it out, e.g. LiNeS's α = 1/T)</param>
/// <param name="Meaning">for usage texts: symbol, meaning, range</param>
/// <param name="Check">validates a given or default value (field name "params.NAME")</param>
/// <param name="Apply">sets the value on the recipe (null: the method's <see cref="MergeMethodDescriptor.Build"/> reads it itself)</param>
public sealed record MethodParameter(string Name, double? Default, string Meaning,
    Func<RecipeRequest, string, double, double> Check, Func<MergeRecipe, double, MergeRecipe>? Apply = null)
{
    /// <summary>The command-line option that sets this parameter on <c>edgetvq run|serve --merge</c> (null: none; <c>--param</c> in edgetvq-pack).</summary>
    public string? Option { get; init; }

    /// <summary>Finite as float32, any value.</summary>
    public static Func<RecipeRequest, string, double, double> AnyFinite => (r, f, v) => r.Finite(f, v);

    /// <summary>Finite and within [min, max] (named <paramref name="range"/> in the error).</summary>
    public static Func<RecipeRequest, string, double, double> Within(double min, double max, string range) =>
        (r, f, v) => r.Finite(f, v, min, max, range);

    /// <summary>TIES's k: a fraction in (0, 1] or a percentage in (1, 100].</summary>
    public static MethodParameter TopK(double @default) => new("k", @default, "k: fraction of entries kept per task, (0, 1], or a percentage (1, 100]",
        Within(double.Epsilon, 100, "(0, 1] (a fraction) or (1, 100] (a percentage)"), (recipe, v) => recipe with { TopK = v });

    /// <summary>DARE's drop rate p in [0, 1).</summary>
    public static MethodParameter DropRate(double @default) => new("p", @default, "p: drop rate, [0, 1)",
        (r, f, v) => v >= 0 && v < 1 ? v : throw r.Bad(f, $"is {v.ToString(CultureInfo.InvariantCulture)}; the drop rate must lie in [0, 1)"),
        (recipe, v) => recipe with { DropRate = v });

    /// <summary>DARE's seed: a whole 32-bit integer.</summary>
    public static MethodParameter Seed { get; } = new("seed", 0, "seed: of the Bernoulli masks, a 32-bit integer",
        (r, f, v) =>
        {
            r.Finite(f, v, int.MinValue, int.MaxValue, "the 32-bit integers");
            return v == Math.Floor(v) ? v : throw r.Bad(f, "must be a whole number");
        },
        (recipe, v) => recipe with { Seed = (int)v });
}
