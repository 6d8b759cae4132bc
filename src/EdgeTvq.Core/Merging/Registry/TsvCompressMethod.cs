using EdgeTvq.Merging.Methods;
using EdgeTvq.Merging.Streaming;

namespace EdgeTvq.Merging.Registry;

/// <summary>TSV-Compress: the served task's τ̂ with each matrix at rank ⌊r/T⌋ (per-tensor <see cref="Tsv.CompressTensor"/>; a per-task model).</summary>
internal sealed class TsvCompressMethod : MergeMethodDescriptor
{
    public override MergeMethod Method => MergeMethod.TsvCompress;
    public override string Name => "tsv_compress";
    public override string Summary => "TSV-Compress: the served task's τ̂, each matrix at rank ⌊r/T⌋ (one model per task)";
    public override bool ServesOneTask => true;
    public override LambdaUse Lambda => LambdaUse.Refused;
    public override string LambdaRefusal => "is not used by tsv_compress (it scales nothing: each matrix of τ̂ is replaced by its low-rank approximation)";

    public override MergeRecipe Build(RecipeRequest request)
    {
        request.ServedTask(Name);
        return base.Build(request);
    }

    public override StreamingMethod CreateStreaming(MergeRecipe recipe, IReadOnlyList<string> tasks) => StreamingMethod.TsvCompress(IndexOfServed(recipe, tasks, Name));

    public override string Describe(MergeRecipe r) => $"TSV-Compress for {r.Task} ({TaskList(r)})";
}
