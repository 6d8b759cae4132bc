using EdgeTvq.Merging.Streaming;

namespace EdgeTvq.Merging.Registry;

/// <summary>Model Breadcrumbs: per row drop the top γ outliers, keep the next β; α·Σ (general path, one pass).</summary>
internal sealed class BreadcrumbsMethod : MergeMethodDescriptor
{
    private static readonly MethodParameter Beta = new("beta", Methods.Breadcrumbs.DefaultBeta, "β: fraction of each row kept after the outliers, [0, 1]",
        MethodParameter.Within(0, 1, "[0, 1]"), (recipe, v) => recipe with { BreadcrumbsBeta = v });
    private static readonly MethodParameter Gamma = new("gamma", Methods.Breadcrumbs.DefaultGamma, "γ: fraction of each row dropped as outliers, [0, 1]",
        MethodParameter.Within(0, 1, "[0, 1]"), (recipe, v) => recipe with { BreadcrumbsGamma = v });

    public override MergeMethod Method => MergeMethod.Breadcrumbs;
    public override string Name => "breadcrumbs";
    public override string Summary => "Model Breadcrumbs (α = 0.2, β = 0.15, γ = 0.006)";
    public override float DefaultLambda => Methods.Breadcrumbs.DefaultAlpha;
    public override string LambdaSymbol => "α";
    public override IReadOnlyList<MethodParameter> Parameters => [Beta, Gamma];

    public override StreamingMethod CreateStreaming(MergeRecipe recipe, IReadOnlyList<string> tasks) =>
        recipe.BreadcrumbsBeta is >= 0 and <= 1 && recipe.BreadcrumbsGamma is >= 0 and <= 1
            ? new BreadcrumbsStep(recipe.EffectiveLambda, recipe.BreadcrumbsBeta, recipe.BreadcrumbsGamma)
            : throw new ArgumentOutOfRangeException(nameof(recipe), $"Breadcrumbs: β ({recipe.BreadcrumbsBeta}) and γ ({recipe.BreadcrumbsGamma}) must lie in [0, 1]");

    public override string Describe(MergeRecipe r) =>
        $"Breadcrumbs ({TaskList(r)}; α={G(r.EffectiveLambda)}, β={G(r.BreadcrumbsBeta)}, γ={G(r.BreadcrumbsGamma)})";
}
