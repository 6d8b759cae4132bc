using EdgeTvq.Merging.Streaming;

namespace EdgeTvq.Merging.Registry;

/// <summary>EMR: the unified task vector with the served task's mask and rescaler (general path, a per-task model).</summary>
internal sealed class EmrMethod : MergeMethodDescriptor
{
    public override MergeMethod Method => MergeMethod.Emr;
    public override string Name => "emr";
    public override string Summary => "EMR: the served task's mask and rescaler on the unified task vector (one model per task)";
    public override bool ServesOneTask => true;
    public override LambdaUse Lambda => LambdaUse.Ignored;

    public override MergeRecipe Build(RecipeRequest request)
    {
        request.ServedTask("EMR");
        return base.Build(request);
    }

    public override StreamingMethod CreateStreaming(MergeRecipe recipe, IReadOnlyList<string> tasks) => new EmrStreaming(IndexOfServed(recipe, tasks, "EMR"));

    public override string Describe(MergeRecipe r) => $"EMR for {r.Task} ({TaskList(r)})";
}
