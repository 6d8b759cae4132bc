using EdgeTvq.Merging.Methods;
using EdgeTvq.Merging.Registry;

namespace EdgeTvq.Merging.Streaming;

/// <summary>
/// A merging method on the general streaming path. The merger streams the bundle tensor by tensor
/// (<see cref="TaskVectors"/>: every selected task's τ̂ of one tensor); a method that needs a whole-model statistic asks
/// for <see cref="StatisticPasses"/> extra passes first, seeing every tensor in <see cref="Observe"/>. In the final
/// pass <see cref="Merge"/> writes the tensor's Δ (θ = θ_pre + Δ). Nothing but the current tensor and the method's
/// own statistics is in memory.
/// </summary>
public abstract class StreamingMethod
{
    /// <summary>Passes over the files before the merge pass.</summary>
    public virtual int StatisticPasses => 0;

    /// <summary>Sees one tensor during statistic pass <paramref name="pass"/> (0-based).</summary>
    public virtual void Observe(int pass, in TensorInfo tensor, TaskVectors tau) { }

    /// <summary>Called after statistic pass <paramref name="pass"/> saw every tensor.</summary>
    public virtual void EndPass(int pass) { }

    /// <summary>Writes Δ of one tensor into <paramref name="delta"/> (zeroed on entry). May change <paramref name="tau"/>.</summary>
    public abstract void Merge(in TensorInfo tensor, TaskVectors tau, Span<float> delta);

    /// <summary>
    /// The method of a (non-fused) recipe, over <paramref name="tasks"/> in this order. A per-tensor method written
    /// against the in-memory table (<c>float[] F(TaskTensor, …)</c>) plugs in through <see cref="PerTensorHook"/> in its
    /// descriptor's <see cref="MergeMethodDescriptor.CreateStreaming"/> (<see cref="MethodRegistry"/>), as TSV-Merge
    /// and TSV-Compress do.
    /// </summary>
    public static StreamingMethod Create(MergeRecipe recipe, IReadOnlyList<string> tasks) => !float.IsFinite(recipe.EffectiveLambda)
        ? throw new ArgumentOutOfRangeException(nameof(recipe), $"the coefficient λ must be finite, got {recipe.EffectiveLambda}")
        : recipe.Descriptor.CreateStreaming(recipe, tasks);

    /// <summary>TSV-Merge, one tensor at a time: <see cref="Tsv.MergeTensor"/> (the code <c>edgetvq-pack merge</c> runs).</summary>
    internal static PerTensorHook TsvMerge(float alpha) => new(t => Tsv.MergeTensor(t, alpha));

    /// <summary>
    /// TSV-Compress of task <paramref name="served"/> (an index into the merged tasks), one tensor at a time:
    /// <see cref="Tsv.CompressTensor"/>. Every merged task is read although only the served one is compressed: k = ⌊r/T⌋
    /// depends on how many tasks are merged, so the recipe's task list keeps its meaning.
    /// </summary>
    internal static PerTensorHook TsvCompress(int served) => new(t => Tsv.CompressTensor(t, served));

    /// <summary>Bernoulli(1 − p) keep-masks from one System.Random(seed), drawn in stream order (tensor, task, entry): equal to <see cref="Dare.BernoulliMasks"/> on the same table.</summary>
    internal static DareMaskSource SeededMasks(double p, int seed)
    {
        var rng = new Random(seed);
        return (_, _, keep) =>
        {
            for (int i = 0; i < keep.Length; i++) keep[i] = rng.NextDouble() >= p;
        };
    }
}

/// <summary>
/// Adapts a per-tensor method written against the in-memory table (<see cref="TaskTensor"/> → Δ) to the stream: the
/// current tensor's task vectors are copied into a one-tensor <see cref="TaskTensor"/> (T × one tensor, freed after).
/// </summary>
public sealed class PerTensorHook(Func<TaskTensor, float[]> mergeTensor) : StreamingMethod
{
    public override void Merge(in TensorInfo tensor, TaskVectors tau, Span<float> delta)
    {
        var copies = new float[tau.Count][];
        for (int t = 0; t < tau.Count; t++) copies[t] = tau[t].ToArray();
        var result = mergeTensor(new TaskTensor(tensor.Name, tensor.Shape, copies));
        if (result.Length != delta.Length) throw new InvalidOperationException($"tensor '{tensor.Name}': the method returned {result.Length} values, expected {delta.Length}");
        result.CopyTo(delta);
    }
}
