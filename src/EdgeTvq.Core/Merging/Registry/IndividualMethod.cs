using EdgeTvq.Merging.Streaming;

namespace EdgeTvq.Merging.Registry;

/// <summary>The paper's "Individual": θ_pre + τ̂_s for the served task s (fused path).</summary>
internal sealed class IndividualMethod : MergeMethodDescriptor
{
    public override MergeMethod Method => MergeMethod.Individual;
    public override string Name => "individual";
    public override string Summary => "θ_pre + τ̂ of the served task (one model per task)";
    public override bool IsFused => true;
    public override bool ServesOneTask => true;
    public override LambdaUse Lambda => LambdaUse.Ignored;

    public override MergeRecipe Build(RecipeRequest request) =>
        MergeRecipe.Individual(request.Task ?? throw request.Bad("task", "is missing: individual serves one task"));

    public override MergeRecipe Defaults(IReadOnlyList<string> tasks, string? task) =>
        MergeRecipe.Individual(task ?? throw new ArgumentException("individual needs the task to serve"));

    public override MergeRecipe ForTask(MergeRecipe recipe, string task) => MergeRecipe.Individual(task);

    public override StreamingMethod CreateStreaming(MergeRecipe recipe, IReadOnlyList<string> tasks) => new TaskArithmeticStep(recipe.EffectiveLambda);

    public override string Describe(MergeRecipe r) => $"individual {r.Task ?? r.Coefficients.Keys.Single()}";
}
