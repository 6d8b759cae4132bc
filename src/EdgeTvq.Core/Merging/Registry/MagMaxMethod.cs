using EdgeTvq.Merging.Streaming;

namespace EdgeTvq.Merging.Registry;

/// <summary>MagMax: per entry the task vector of largest magnitude, times λ (general path, one pass).</summary>
internal sealed class MagMaxMethod : MergeMethodDescriptor
{
    public override MergeMethod Method => MergeMethod.MagMax;
    public override string Name => "magmax";
    public override string Summary => "MagMax: per entry the largest-magnitude τ̂ (λ = 0.5)";
    public override float DefaultLambda => Methods.MagMax.DefaultLambda;

    public override StreamingMethod CreateStreaming(MergeRecipe recipe, IReadOnlyList<string> tasks) => new MagMaxStep(recipe.EffectiveLambda);

    public override string Describe(MergeRecipe r) => $"MagMax ({TaskList(r)}; λ={G(r.EffectiveLambda)})";
}
