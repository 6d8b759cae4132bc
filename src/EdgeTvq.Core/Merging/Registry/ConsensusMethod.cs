using System.Globalization;
using EdgeTvq.Merging.Methods;
using EdgeTvq.Merging.Streaming;

namespace EdgeTvq.Merging.Registry;

/// <summary>Consensus task arithmetic with TALL masks (general path, one pass).</summary>
internal sealed class ConsensusMethod : MergeMethodDescriptor
{
    private static readonly MethodParameter K = new("k", ConsensusMerging.DefaultK, "k: masks that must agree, a whole number 1 … T",
        (r, f, v) =>
        {
            r.Finite(f, v, 1, r.Tasks.Count, $"1 … {r.Tasks.Count} (the number of merged tasks)");
            return v == Math.Floor(v) ? v : throw r.Bad(f, $"is {v.ToString(CultureInfo.InvariantCulture)}; it must be a whole number of tasks");
        },
        (recipe, v) => recipe with { ConsensusK = (int)v });
    private static readonly MethodParameter TallLambda = new("tall_lambda", ConsensusMerging.DefaultLambda, "TALL λ: m_t = |τ_t| > λ·|τ_MTL − τ_t|, ≥ 0",
        MethodParameter.Within(0, double.MaxValue, "[0, ∞)"), (recipe, v) => recipe with { TallLambda = (float)v });

    public override MergeMethod Method => MergeMethod.Consensus;
    public override string Name => "consensus";
    public override string Summary => "Consensus TA with TALL masks (k = 2, TALL λ = 0.6, α = 0.3)";
    public override float DefaultLambda => ConsensusMerging.DefaultAlpha;
    public override string LambdaSymbol => "α";
    public override IReadOnlyList<MethodParameter> Parameters => [K, TallLambda];

    public override StreamingMethod CreateStreaming(MergeRecipe recipe, IReadOnlyList<string> tasks) =>
        recipe.ConsensusK >= 1 && recipe.ConsensusK <= tasks.Count && float.IsFinite(recipe.TallLambda) && recipe.TallLambda >= 0
            ? new ConsensusStep(recipe.EffectiveLambda, recipe.ConsensusK, recipe.TallLambda)
            : throw new ArgumentOutOfRangeException(nameof(recipe), $"Consensus: k must lie in 1 … {tasks.Count} (the merged tasks), got {recipe.ConsensusK}; TALL λ must be finite and ≥ 0, got {recipe.TallLambda}");

    public override string Describe(MergeRecipe r) =>
        $"Consensus TA ({TaskList(r)}; k={r.ConsensusK}, TALL λ={G(r.TallLambda)}, α={G(r.EffectiveLambda)})";
}
