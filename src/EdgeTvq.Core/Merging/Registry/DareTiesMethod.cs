using EdgeTvq.Merging.Methods;
using EdgeTvq.Merging.Streaming;

namespace EdgeTvq.Merging.Registry;

/// <summary>DARE then TIES with disjoint mean (general path, TIES's four passes, masks redrawn per pass).</summary>
internal sealed class DareTiesMethod : MergeMethodDescriptor
{
    private static readonly MethodParameter P = MethodParameter.DropRate(Dare.DefaultP);
    private static readonly MethodParameter K = MethodParameter.TopK(TiesMerging.DefaultK);

    public override MergeMethod Method => MergeMethod.DareTies;
    public override string Name => "dare_ties";
    public override string Summary => "DARE then TIES, disjoint mean (p = 0.5, seed 0, k = 0.2, λ = 1)";
    public override float DefaultLambda => TiesMerging.DefaultLambda;
    public override IReadOnlyList<MethodParameter> Parameters => [P, MethodParameter.Seed, K];

    public override StreamingMethod CreateStreaming(MergeRecipe recipe, IReadOnlyList<string> tasks) =>
        new DropAndRescale(new TiesStreaming(recipe.TopK, recipe.EffectiveLambda, DisjointAggregation.Mean), recipe.DropRate,
            recipe.DareMask is { } injected ? () => injected : () => StreamingMethod.SeededMasks(recipe.DropRate, recipe.Seed));

    public override string Describe(MergeRecipe r) =>
        $"DARE ({TaskList(r)}; p={G(r.DropRate)}, seed {r.Seed}{(r.DareMask is null ? "" : ", injected masks")}) + TIES (k={G(r.TopK)}, disjoint mean, λ={G(r.EffectiveLambda)})";
}
