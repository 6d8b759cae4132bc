using EdgeTvq.Merging.Methods;
using EdgeTvq.Merging.Streaming;

namespace EdgeTvq.Merging.Registry;

/// <summary>TIES (trim to the global top-k, elect the sign, disjoint mean or sum), general path, four passes.</summary>
internal sealed class TiesMethod(DisjointAggregation aggregation) : MergeMethodDescriptor
{
    private static readonly MethodParameter K = MethodParameter.TopK(TiesMerging.DefaultK);
    private bool Mean => aggregation == DisjointAggregation.Mean;

    public override MergeMethod Method => Mean ? MergeMethod.Ties : MergeMethod.TiesDisSum;
    public override string Name => Mean ? "ties" : "ties_dis_sum";
    public override string Summary => Mean ? "TIES, disjoint mean (k = 0.2, λ = 1)" : "TIES, disjoint sum (k = 0.2, λ = 0.3)";
    public override float DefaultLambda => Mean ? TiesMerging.DefaultLambda : TiesMerging.DefaultDisSumLambda;
    public override IReadOnlyList<MethodParameter> Parameters => [K];

    public override StreamingMethod CreateStreaming(MergeRecipe recipe, IReadOnlyList<string> tasks) =>
        new TiesStreaming(recipe.TopK, recipe.EffectiveLambda, aggregation);

    public override string Describe(MergeRecipe r) =>
        $"TIES ({TaskList(r)}; k={G(r.TopK)}, disjoint {(Mean ? "mean" : "sum")}, λ={G(r.EffectiveLambda)})";
}
