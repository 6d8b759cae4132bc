using EdgeTvq.Bundle;
using EdgeTvq.Fuzz.Harness;
using EdgeTvq.Fuzz.Mutation;
using EdgeTvq.Fuzz.Seeds;
using EdgeTvq.Merging;

namespace EdgeTvq.Fuzz.Targets;

/// <summary>
/// Recipe JSON (RecipeDocument.Parse, then ToRecipe against the seed TVQ bundle's manifest). Errors are
/// ArgumentException by contract; a recipe that is accepted must hold only finite coefficients.
/// </summary>
public sealed class RecipeTarget : IFuzzTarget
{
    private BundleManifest? _manifest;

    public string Name => "recipe";
    public IReadOnlySet<Type> Expected { get; } = new HashSet<Type> { typeof(ArgumentException) };

    public IReadOnlyList<byte[]> Seeds(string scratch)
    {
        _manifest = ManifestIO.Load(SeedBundles.Build(scratch)[0]);
        string[] recipes =
        [
            """{"method": "task_arithmetic", "tasks": ["t0", "t1"], "lambda": 0.3, "coefficients": {"t0": 0.5, "t1": 0.25}, "source": "seed"}""",
            """{"method": "task_arithmetic", "tensor_coefficients": {"t0": {"blocks.0.attn.qkv.weight": 0.7}}, "coefficients": {"t0": 1, "t1": 2}}""",
            """{"method": "ties", "tasks": ["t0", "t1"], "lambda": 1.0, "params": {"k": 0.2}}""",
            """{"method": "lines", "params": {"alpha": 0.5, "beta": 0.1}, "block_pattern": "blocks.{i}."}""",
            """{"method": "breadcrumbs", "params": {"beta": 0.85, "gamma": 0.993}}""",
            """{"method": "consensus", "params": {"k": 2, "tall_lambda": 0.6}}""",
            """{"method": "dare_ties", "params": {"p": 0.5, "seed": 3, "k": 0.2}}""",
            """{"method": "emr", "task": "t1"}""",
            """{"method": "individual", "task": "t0"}""",
            """{"method": "tsv_compress", "task": "t0"}""",
        ];
        return recipes.Select(r => System.Text.Encoding.UTF8.GetBytes(r)).ToList();
    }

    public byte[] Mutate(byte[] input, Random rng) => rng.Next(10) < 8 ? Json.Mutate(input, rng) : Bytes.Mutate(input, rng);

    public void Run(byte[] input, string scratch)
    {
        var doc = RecipeDocument.Parse(input, "case.json");
        var recipe = doc.ToRecipe(_manifest!, "case.json", servedTask: "t0");
        // Accepted recipes reach the merge kernels as float32: they must be finite there (issue "Hardening", bug 5).
        void Finite(string what, double v)
        {
            if (!double.IsFinite(v)) throw new FuzzInvariantException($"accepted recipe has a non-finite number ({what} = {v})");
        }
        foreach (var (t, c) in recipe.Coefficients) Finite($"coefficient of {t}", c);
        foreach (var (t, byTensor) in recipe.TensorCoefficients ?? new Dictionary<string, IReadOnlyDictionary<string, float>>())
            foreach (var (n, c) in byTensor) Finite($"coefficient of {t}/{n}", c);
        if (recipe.Lambda is { } l) Finite("lambda", l);
        Finite("tall_lambda", recipe.TallLambda);
        Finite("k", recipe.TopK);
    }
}
