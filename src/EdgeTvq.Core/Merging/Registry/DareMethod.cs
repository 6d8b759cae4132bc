using EdgeTvq.Merging.Streaming;

namespace EdgeTvq.Merging.Registry;

/// <summary>DARE (drop with seeded Bernoulli masks, rescale) then task arithmetic (general path, one pass).</summary>
internal sealed class DareMethod : MergeMethodDescriptor
{
    private static readonly MethodParameter P = MethodParameter.DropRate(Methods.Dare.DefaultP);

    public override MergeMethod Method => MergeMethod.Dare;
    public override string Name => "dare";
    public override string Summary => "DARE then task arithmetic (p = 0.5, seed 0, λ = 0.3)";
    public override float DefaultLambda => MergeRecipe.DefaultLambda;
    public override IReadOnlyList<MethodParameter> Parameters => [P, MethodParameter.Seed];

    public override StreamingMethod CreateStreaming(MergeRecipe recipe, IReadOnlyList<string> tasks) =>
        new DareStep(recipe.DropRate, recipe.DareMask ?? StreamingMethod.SeededMasks(recipe.DropRate, recipe.Seed), recipe.EffectiveLambda);

    public override string Describe(MergeRecipe r) =>
        $"DARE ({TaskList(r)}; p={G(r.DropRate)}, seed {r.Seed}{(r.DareMask is null ? "" : ", injected masks")}) + task arithmetic λ={G(r.EffectiveLambda)}";
}
