using EdgeTvq.Merging;
using EdgeTvq.Runtime.Inference;
using EdgeTvq.Runtime.Input;
using EdgeTvq.Runtime.Serving;

namespace EdgeTvq.Eval;

/// <summary>
/// Tuned rows of the harness: a method's hyperparameters chosen by <see cref="RecipeTuner"/> (the code behind
/// <c>edgetvq-pack tune</c>) on the zoo's validation images of the scheme's own bundle, then evaluated on the test
/// images like every other row. Tuning never sees a test image. The chosen recipe and the grid are kept in
/// <c>&lt;out&gt;/tuned/&lt;zoo&gt;-&lt;key&gt;/&lt;scheme&gt;-&lt;method&gt;.json|.txt</c>, reused while the recipe names the current bundle.
/// </summary>
public static class TunedRecipes
{
    public static MergeRecipe Get(MergeContext c, string method)
    {
        var zoo = c.Zoo ?? throw new InvalidOperationException("a tuned row needs the zoo in the merge context");
        var scheme = c.Scheme ?? throw new InvalidOperationException("a tuned row needs the scheme in the merge context");
        string bundle = c.BundleDir ?? throw new InvalidOperationException("a tuned row needs the bundle folder in the merge context");
        string dir = Path.Combine(c.OutDir ?? "artifacts/eval", "tuned", $"{zoo.Name}-{zoo.Key[..8]}");
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, $"{scheme.Id}-{method}.json");
        if (!File.Exists(path) || RecipeDocument.Load(path).Source?.EndsWith(c.Manifest.BundleId, StringComparison.Ordinal) != true)
        {
            var validation = new Dictionary<string, IReadOnlyList<InputImage>>(StringComparer.Ordinal);
            foreach (var t in zoo.Tasks)
                validation[t.Name] = ImageFiles.Load(t.ValImages ?? throw new InvalidDataException(
                    $"{zoo.Dir}: task '{t.Name}' has no validation split (files.val_images); rebuild the zoo (bench/zoo/README.md)"));
            using var host = new ModelHost(bundle, zoo.EncoderOnnx, new InferenceOptions());
            var result = RecipeTuner.Tune(host, c.Tasks, validation, [method]);
            var best = result.Best;
            var doc = new RecipeDocument
            {
                Method = best.Recipe.Method, Tasks = best.Recipe.Tasks, Lambda = best.Recipe.Lambda, Params = best.Recipe.Params,
                Source = $"tuned on validation: {best.Settings}, mean validation accuracy {100 * best.Mean:F2} %, bundle {c.Manifest.BundleId}",
            };
            File.WriteAllText(Path.ChangeExtension(path, ".txt"), string.Join('\n', result.Grid.Select(p =>
                $"{p.Method} {p.Settings} mean {100 * p.Mean:F2} % | " + string.Join(" ", p.Accuracy.Select(a => $"{a.Key} {100 * a.Value:F2}")))) + "\n");
            File.WriteAllBytes(path + ".partial", doc.ToJson());
            File.Move(path + ".partial", path, overwrite: true);
        }
        return RecipeDocument.Load(path).ToRecipe(c.Manifest, path);
    }
}
