using EdgeTvq.Bundle;
using EdgeTvq.Format;

namespace EdgeTvq.Merging;

/// <summary>The result of a merge: merged weights for the model, plus the tasks' own tensors (heads) by task.</summary>
public sealed record MergeResult(WeightSet Weights, IReadOnlyDictionary<string, WeightSet> OwnTensors, IReadOnlyDictionary<string, TaskMetadata> Metadata) : IDisposable
{
    public void Dispose()
    {
        Weights.Dispose();
        foreach (var w in OwnTensors.Values) w.Dispose();
    }
}

/// <summary>
/// What a device keeps between merges so that a task switch recomputes only what changed: θ_pre (read once from
/// the model file) and, for RTVQ, the dequantized base dq(base), filled by the first merge that reads the base file.
/// Costs two model-sized buffers; switching then reads only the selected tasks' files.
/// </summary>
public sealed class MergeCache : ITensorSource, IDisposable
{
    private readonly WeightSet _pretrained = new();
    internal WeightSet? Base { get; set; }

    /// <summary>EMR rescalers r_t by merged task list (they depend only on the tasks): a switch to another task's EMR model skips the statistics pass.</summary>
    internal Dictionary<string, float[]> EmrRescalers { get; } = new(StringComparer.Ordinal);

    /// <param name="keepBase">
    /// Keep dq(base) of an RTVQ bundle after the first merge, so later switches read only task files (the default).
    /// False for boards short of memory: every merge then reads and dequantizes the base file again, and the cache
    /// holds θ_pre alone.
    /// </param>
    public MergeCache(ITensorSource pretrained, BundleManifest m, bool keepBase = true)
    {
        KeepsBase = keepBase;
        Path = pretrained.Path;
        Tensors = m.Tensors.Where(e => e.Storage != "skipped").Select(e => new SourceTensor(e.Name, e.Shape, "F32", true)).ToList();
        try
        {
            TaskDecoder.CheckIdentity(pretrained, m, e => _pretrained.Add(e.Name, e.Shape)); // one read: what is hashed is kept
        }
        catch
        {
            _pretrained.Dispose();
            throw;
        }
    }

    public string Path { get; }
    public IReadOnlyList<SourceTensor> Tensors { get; }
    public bool HasBase => Base is not null;
    /// <summary>Whether dq(base) is kept between merges (see the constructor).</summary>
    public bool KeepsBase { get; }
    public void ReadFloat32(string name, Span<float> destination) => _pretrained.Span(name).CopyTo(destination);

    public void Dispose()
    {
        _pretrained.Dispose();
        Base?.Dispose();
    }
}

/// <summary>
/// Builds merged weights from a bundle by streaming: the base file and the tasks with a non-zero coefficient are
/// read front to back in lockstep (every record checksum-verified as it passes), and each table tensor is formed
/// in its output buffer as
/// <code>
///   θ = θ_pre + (Σ_t λ_t)·dq(base) + Σ_t λ_t·dq(task_t)          (RTVQ; TVQ has no base; full tensors store τ)
/// </code>
/// with the fused dequantize-accumulate kernels. Memory: the merged weights plus one record per open file —
/// never all task vectors at once. FQ bundles store θ_t, not τ_t, so θ = (1 − Σλ)·θ_pre + Σ λ_t·dq(task_t).
/// λ_t may be given per tensor (<see cref="MergeRecipe.TensorCoefficients"/>). Recipes of the other methods (TIES,
/// MagMax, Breadcrumbs, Consensus, EMR, DARE) go to the general streaming path (<see cref="Streaming.GeneralMerger"/>,
/// docs/merging.md). Nothing is returned unless every file checked out completely.
/// </summary>
public static class BundleMerger
{
    /// <summary>
    /// Merges with a <see cref="MergeCache"/>: θ_pre comes from the cache (its identity was checked when it was
    /// built), and the RTVQ base file is read only the first time, its dequantized values kept in the cache.
    /// </summary>
    /// <param name="reuse">
    /// Optional: a weight set from an earlier merge of this bundle to fill instead of allocating (ownership passes to
    /// this call: it is returned inside the result, or freed when its layout does not fit or the merge fails).
    /// </param>
    public static MergeResult Merge(string bundleDir, BundleManifest m, MergeCache cache, MergeRecipe recipe, PackProgress? progress = null, WeightSet? reuse = null)
        => Merge(bundleDir, m, (ITensorSource)cache, recipe, progress, cache, reuse);

    public static MergeResult Merge(string bundleDir, BundleManifest m, ITensorSource pretrained, MergeRecipe recipe, PackProgress? progress = null)
        => Merge(bundleDir, m, pretrained, recipe, progress, null, null);

    /// <summary>
    /// Runs <paramref name="method"/> on the general streaming path over <paramref name="tasks"/> (in this order): the
    /// extension point for a method that is not (yet) a <see cref="MergeMethod"/>, e.g. a per-tensor method written
    /// against the reference table through <see cref="Streaming.PerTensorHook"/>. <paramref name="servedTask"/>: the
    /// task whose head is returned (null: every task's).
    /// </summary>
    public static MergeResult MergeWith(string bundleDir, BundleManifest m, ITensorSource pretrained, IReadOnlyList<string> tasks, Streaming.StreamingMethod method,
        string? servedTask = null, PackProgress? progress = null)
    {
        var recipe = new MergeRecipe(MergeMethod.TaskArithmetic, tasks.ToDictionary(t => t, _ => 1f)) { Task = servedTask };
        return Streaming.GeneralMerger.Merge(bundleDir, m, pretrained, recipe, progress, pretrained as MergeCache, null, method);
    }

    private static MergeResult Merge(string bundleDir, BundleManifest m, ITensorSource pretrained, MergeRecipe recipe, PackProgress? progress, MergeCache? cache, WeightSet? reuse)
    {
        try { recipe.CheckFinite(); }
        catch
        {
            reuse?.Dispose();
            throw;
        }
        if (!recipe.IsFused) return Streaming.GeneralMerger.Merge(bundleDir, m, pretrained, recipe, progress, cache, reuse);
        var o = ManifestIO.OptionsOf(m);
        List<(TaskEntry Entry, float Lambda, IReadOnlyDictionary<string, float>? PerTensor)> tasks;
        try
        {
            tasks = recipe.SelectedTasks.Select(t => (TaskDecoder.FindTask(m, t), recipe.Coefficients[t], recipe.TensorCoefficients?.GetValueOrDefault(t))).ToList();
            if (tasks.Count == 0) throw new ArgumentException("the merge recipe selects no task (all coefficients are zero)");
        }
        catch
        {
            reuse?.Dispose();
            throw;
        }
        var coefficients = new float[tasks.Count];
        var stored = m.Tensors.Where(e => e.Storage != "skipped").ToList();
        uint quantizedCount = (uint)stored.Count(e => e.Storage == "quantized");

        var readers = new List<CheckedFileReader>();
        var layout = stored.Select(e => (e.Name, e.Shape)).ToList();
        bool refill = reuse is not null && reuse.HasLayout(layout);
        if (!refill) reuse?.Dispose();
        var weights = refill ? reuse! : new WeightSet();
        var own = new Dictionary<string, WeightSet>();
        var metadata = new Dictionary<string, TaskMetadata>();
        WeightSet? newBase = null;
        try
        {
            var taskReaders = new List<(CheckedFileReader Reader, TaskEntry Entry)>();
            foreach (var (entry, _, _) in tasks)
            {
                var r = CheckedFileReader.Open(bundleDir, m, entry, FileKind.Task, (uint)(1 + stored.Count + entry.OwnTensors.Count));
                readers.Add(r);
                taskReaders.Add((r, entry));
                metadata[entry.Name] = r.ReadMetadata(entry);
            }
            CheckedFileReader? baseReader = null;
            if (m.Base is not null && cache?.Base is null)
            {
                if (cache is { KeepsBase: true }) newBase = new WeightSet();
                baseReader = CheckedFileReader.Open(bundleDir, m, m.Base, FileKind.Base, quantizedCount);
                readers.Add(baseReader);
            }

            int done = 0;
            foreach (var e in stored)
            {
                progress?.Invoke("merging", done++, stored.Count);
                var dst = refill ? weights.Span(e.Name) : weights.Add(e.Name, e.Shape);
                pretrained.ReadFloat32(e.Name, dst);
                float scale = recipe.TensorScale?.Invoke(e.Name) ?? 1f;  // per-tensor factor (LiNeS), 1 otherwise
                double lambdaSum = 0; // in double, as Enumerable.Sum did before per-tensor coefficients
                for (int t = 0; t < tasks.Count; t++)
                {
                    // λ_t^l when the recipe gives one for this (task, tensor), else λ_t; the base gets Σ_t of them.
                    float lambda = tasks[t].PerTensor is { } perTensor && perTensor.TryGetValue(e.Name, out float l) ? l : tasks[t].Lambda;
                    coefficients[t] = lambda * scale;
                    lambdaSum += lambda;
                }
                float baseCoefficient = (float)lambdaSum * scale;
                bool fqValues = o.Scheme == Scheme.Fq && e.Storage == "quantized";
                if (fqValues) Accumulate.Float32(dst, -baseCoefficient, dst); // θ_pre·(1 − Σλ): FQ records hold θ_t
                if (cache?.Base is { } cachedBase && e.Storage == "quantized")
                {
                    Accumulate.Float32(cachedBase.Span(e.Name), baseCoefficient, dst);
                }
                else if (baseReader is not null && e.Storage == "quantized")
                {
                    var b = baseReader.Next(e.Name, e.Shape, o.BaseBits, RecordKind.Quantized, RecordKind.Constant, RecordKind.Float32);
                    if (newBase is not null)
                    {
                        var baseHat = newBase.Add(e.Name, e.Shape);
                        Accumulate.Record(b, o.Mode, 1f, baseHat);
                        Accumulate.Float32(baseHat, baseCoefficient, dst);
                    }
                    else Accumulate.Record(b, o.Mode, baseCoefficient, dst);
                }
                for (int t = 0; t < taskReaders.Count; t++)
                {
                    var reader = taskReaders[t].Reader;
                    var r = e.Storage == "quantized"
                        ? reader.Next(e.Name, e.Shape, o.TaskBits, RecordKind.Quantized, RecordKind.Constant, RecordKind.Float32)
                        : reader.Next(e.Name, e.Shape, null, RecordKind.Float32);
                    if (coefficients[t] != 0f) Accumulate.Record(r, o.Mode, coefficients[t], dst);
                }
            }
            foreach (var (reader, entry) in taskReaders)
            {
                var set = new WeightSet();
                own[entry.Name] = set;
                foreach (var t in entry.OwnTensors)
                {
                    var r = reader.Next(t.Name, t.Shape, null, RecordKind.OwnFloat32);
                    Accumulate.Record(r, o.Mode, 1f, set.Add(t.Name, t.Shape));
                }
                reader.Finish();
            }
            baseReader?.Finish();
            if (cache is not null && newBase is not null) cache.Base = newBase;
            progress?.Invoke("merging", stored.Count, stored.Count);
            return new MergeResult(weights, own, metadata);
        }
        catch
        {
            newBase?.Dispose();
            weights.Dispose();
            foreach (var w in own.Values) w.Dispose();
            throw;
        }
        finally
        {
            foreach (var r in readers) r.Dispose();
        }
    }
}
