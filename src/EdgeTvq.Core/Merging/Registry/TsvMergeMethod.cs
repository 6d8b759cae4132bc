using EdgeTvq.Merging.Methods;
using EdgeTvq.Merging.Streaming;

namespace EdgeTvq.Merging.Registry;

/// <summary>TSV-Merge: per matrix the tasks' top-⌊r/T⌋ singular vectors, orthogonalised; α·τ_M (per-tensor <see cref="Tsv.MergeTensor"/>).</summary>
internal sealed class TsvMergeMethod : MergeMethodDescriptor
{
    public override MergeMethod Method => MergeMethod.TsvMerge;
    public override string Name => "tsv_merge";
    public override string Summary => "TSV-Merge: per matrix the tasks' top singular vectors, orthogonalised (α = 1)";
    public override float DefaultLambda => Tsv.DefaultAlpha;
    public override string LambdaSymbol => "α";

    public override string? MisplacedParameter(string name) => name == "alpha"
        ? "is not a parameter of tsv_merge: its α (θ = θ_pre + α·τ_M) is \"lambda\", the coefficient on the merged vector as for every method"
        : null;

    public override StreamingMethod CreateStreaming(MergeRecipe recipe, IReadOnlyList<string> tasks) => StreamingMethod.TsvMerge(recipe.EffectiveLambda);

    public override string Describe(MergeRecipe r) => $"TSV-Merge ({TaskList(r)}; α={G(r.EffectiveLambda)})";
}
