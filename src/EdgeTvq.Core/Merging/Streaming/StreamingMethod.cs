using EdgeTvq.Merging.Methods;

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
    /// against the in-memory table (<c>float[] F(TaskTensor, …)</c>) plugs in as one case through
    /// <see cref="PerTensorHook"/>, as TSV-Merge and TSV-Compress do: the device runs the same code as
    /// <c>edgetvq-pack merge</c>.
    /// </summary>
    public static StreamingMethod Create(MergeRecipe recipe, IReadOnlyList<string> tasks) => !float.IsFinite(recipe.EffectiveLambda)
        ? throw new ArgumentOutOfRangeException(nameof(recipe), $"the coefficient λ must be finite, got {recipe.EffectiveLambda}")
        : recipe.Method switch
    {
        MergeMethod.Individual or MergeMethod.TaskArithmetic => new TaskArithmeticStep(recipe.EffectiveLambda),
        MergeMethod.Ties => new TiesStreaming(recipe.TopK, recipe.EffectiveLambda, DisjointAggregation.Mean),
        MergeMethod.TiesDisSum => new TiesStreaming(recipe.TopK, recipe.EffectiveLambda, DisjointAggregation.Sum),
        MergeMethod.MagMax => new MagMaxStep(recipe.EffectiveLambda),
        MergeMethod.Breadcrumbs => recipe.BreadcrumbsBeta is >= 0 and <= 1 && recipe.BreadcrumbsGamma is >= 0 and <= 1
            ? new BreadcrumbsStep(recipe.EffectiveLambda, recipe.BreadcrumbsBeta, recipe.BreadcrumbsGamma)
            : throw new ArgumentOutOfRangeException(nameof(recipe), $"Breadcrumbs: β ({recipe.BreadcrumbsBeta}) and γ ({recipe.BreadcrumbsGamma}) must lie in [0, 1]"),
        MergeMethod.Consensus => recipe.ConsensusK >= 1 && recipe.ConsensusK <= tasks.Count && float.IsFinite(recipe.TallLambda) && recipe.TallLambda >= 0
            ? new ConsensusStep(recipe.EffectiveLambda, recipe.ConsensusK, recipe.TallLambda)
            : throw new ArgumentOutOfRangeException(nameof(recipe), $"Consensus: k must lie in 1 … {tasks.Count} (the merged tasks), got {recipe.ConsensusK}; TALL λ must be finite and ≥ 0, got {recipe.TallLambda}"),
        MergeMethod.Dare => new DareStep(recipe.DropRate, recipe.DareMask ?? SeededMasks(recipe.DropRate, recipe.Seed), recipe.EffectiveLambda),
        MergeMethod.DareTies => new DropAndRescale(new TiesStreaming(recipe.TopK, recipe.EffectiveLambda, DisjointAggregation.Mean), recipe.DropRate,
            recipe.DareMask is { } injected ? () => injected : () => SeededMasks(recipe.DropRate, recipe.Seed)),
        MergeMethod.Emr => new EmrStreaming(IndexOfServed(recipe, tasks)),
        MergeMethod.TsvMerge => TsvMerge(recipe.EffectiveLambda),
        MergeMethod.TsvCompress => TsvCompress(IndexOfServed(recipe, tasks)),
        _ => throw new ArgumentException($"{recipe.Method} is merged by the fused path, not a streaming method"),
    };

    private static int IndexOfServed(MergeRecipe recipe, IReadOnlyList<string> tasks)
    {
        string name = recipe.Method == MergeMethod.Emr ? "EMR" : MergeRecipe.NameOf(recipe.Method);
        string task = recipe.Task ?? throw new ArgumentException($"{name} builds one task's model: the recipe must name the task to serve (\"task\")");
        int i = tasks.ToList().IndexOf(task);
        return i >= 0 ? i : throw new ArgumentException($"{name}: the served task '{task}' is not among the merged tasks ({string.Join(", ", tasks)})");
    }

    /// <summary>TSV-Merge, one tensor at a time: <see cref="Tsv.MergeTensor"/> (the code <c>edgetvq-pack merge</c> runs).</summary>
    internal static PerTensorHook TsvMerge(float alpha) => new(t => Tsv.MergeTensor(t, alpha));

    /// <summary>
    /// TSV-Compress of task <paramref name="served"/> (an index into the merged tasks), one tensor at a time:
    /// <see cref="Tsv.CompressTensor"/>. Every merged task is read although only the served one is compressed: k = ⌊r/T⌋
    /// depends on how many tasks are merged, so the recipe's task list keeps its meaning.
    /// </summary>
    internal static PerTensorHook TsvCompress(int served) => new(t => Tsv.CompressTensor(t, served));

    /// <summary>Bernoulli(1 − p) keep-masks from one System.Random(seed), drawn in stream order (tensor, task, entry): equal to <see cref="Dare.BernoulliMasks"/> on the same table.</summary>
    private static DareMaskSource SeededMasks(double p, int seed)
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
