namespace EdgeTvq.Merging.Registry;

/// <summary>LiNeS on task arithmetic: θ_pre + s(l)·Σ_t τ̂_t with s(l) = α + β·l/(L − 1) for block l (fused path).</summary>
internal sealed class LinesMethod : MergeMethodDescriptor
{
    private static readonly MethodParameter Alpha = new("alpha", null, "α: the factor outside blocks and at block 0 (default 1/T)", MethodParameter.AnyFinite);
    private static readonly MethodParameter Beta = new("beta", Methods.LiNeS.DefaultBeta, "β: depth scaling", MethodParameter.AnyFinite) { Option = "--beta" };

    public override MergeMethod Method => MergeMethod.LiNeS;
    public override string Name => "lines";
    public override string Summary => "LiNeS: task arithmetic scaled by depth, s(l) = α + β·l/(L − 1) (α = 1/T, β = 0.5)";
    public override bool IsFused => true;
    public override LambdaUse Lambda => LambdaUse.Ignored;
    public override IReadOnlyList<MethodParameter> Parameters => [Alpha, Beta];
    public override bool TakesBlockPattern => true;
    public override string? ServeArgument => "beta";

    public override MergeRecipe Build(RecipeRequest r)
    {
        string pattern = r.Document.BlockPattern ?? Methods.LiNeS.DefaultBlockPattern;
        if (!pattern.Contains("{i}", StringComparison.Ordinal)) throw r.Bad("block_pattern", $"is '{pattern}'; it needs an {{i}} placeholder for the block index");
        float beta = (float)r.Value(Beta)!.Value;
        float? alpha = r.Value(Alpha) is { } a ? (float)a : null;
        return MergeRecipe.LiNeS(r.Tasks.ToList(), r.Manifest.Tensors.Select(e => e.Name), beta, pattern, alpha);
    }

    public override MergeRecipe Defaults(IReadOnlyList<string> tasks, string? task) =>
        throw new ArgumentException("LiNeS needs the tensor names: use MergeRecipe.LiNeS");

    public override string Describe(MergeRecipe r) => $"LiNeS ({TaskList(r)}; {r.Detail}{PerTensor(r)})";
}
