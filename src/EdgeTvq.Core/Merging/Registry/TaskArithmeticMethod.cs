using EdgeTvq.Merging.Streaming;

namespace EdgeTvq.Merging.Registry;

/// <summary>Task arithmetic: θ_pre + Σ_t λ_t^l τ̂_t (fused path; per-task and per-(task, tensor) λ, e.g. AdaMerging's).</summary>
internal sealed class TaskArithmeticMethod : MergeMethodDescriptor
{
    public override MergeMethod Method => MergeMethod.TaskArithmetic;
    public override string Name => "task_arithmetic";
    public override IReadOnlyList<string> Aliases => ["ta"];
    public override string Summary => "θ_pre + Σ_t λ_t τ̂_t (λ = 0.3; per-task/per-tensor λ in recipes)";
    public override bool IsFused => true;
    public override float DefaultLambda => MergeRecipe.DefaultLambda;
    public override bool TakesCoefficients => true;

    public override MergeRecipe Build(RecipeRequest r)
    {
        var doc = r.Document;
        float fallback = r.Lambda ?? MergeRecipe.DefaultLambda;
        var coefficients = new Dictionary<string, float>();
        foreach (var t in r.Tasks)
            coefficients[t] = doc.Coefficients is not null && doc.Coefficients.TryGetValue(t, out double c) ? (float)r.Finite($"coefficients.{t}", c) : fallback;
        foreach (var t in doc.Coefficients?.Keys ?? Enumerable.Empty<string>())
            if (!r.Tasks.Contains(t)) throw r.Bad($"coefficients.{t}", "names a task that \"tasks\" leaves out");
        Dictionary<string, IReadOnlyDictionary<string, float>>? perTensor = null;
        if (doc.TensorCoefficients is not null)
        {
            var tensors = r.Manifest.Tensors.Where(e => e.Storage != "skipped").Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
            perTensor = [];
            foreach (var (t, byTensor) in doc.TensorCoefficients)
            {
                if (byTensor is null) throw r.Bad($"tensor_coefficients.{t}", "is null; give an object of tensor → coefficient, or leave the task out");
                r.CheckTask($"tensor_coefficients.{t}", t);
                if (!r.Tasks.Contains(t)) throw r.Bad($"tensor_coefficients.{t}", "names a task that \"tasks\" leaves out");
                var values = new Dictionary<string, float>(StringComparer.Ordinal);
                foreach (var (tensor, c) in byTensor)
                {
                    if (!tensors.Contains(tensor)) throw r.Bad($"tensor_coefficients.{t}.{tensor}", "names a tensor that is not in the bundle's tensor table (or is not a floating tensor)");
                    values[tensor] = (float)r.Finite($"tensor_coefficients.{t}.{tensor}", c);
                }
                perTensor[t] = values;
            }
        }
        return new MergeRecipe(MergeMethod.TaskArithmetic, coefficients) { TensorCoefficients = perTensor };
    }

    public override MergeRecipe Defaults(IReadOnlyList<string> tasks, string? task) => MergeRecipe.TaskArithmetic(tasks);

    public override StreamingMethod CreateStreaming(MergeRecipe recipe, IReadOnlyList<string> tasks) => new TaskArithmeticStep(recipe.EffectiveLambda);

    public override string Describe(MergeRecipe r) =>
        $"task arithmetic ({string.Join(", ", r.Coefficients.Select(kv => $"{kv.Key} λ={G(kv.Value)}"))}{PerTensor(r)})";
}
