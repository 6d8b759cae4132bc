using EdgeTvq.Bundle;
using EdgeTvq.Format;

namespace EdgeTvq.Merging;

/// <summary>
/// The result of a merge: merged weights for the model, plus by task its own tensors (e.g. a linear head), its own
/// blobs (e.g. <c>head.onnx</c>, format version 2) and its metadata.
/// </summary>
public sealed record MergeResult(WeightSet Weights, IReadOnlyDictionary<string, WeightSet> OwnTensors, IReadOnlyDictionary<string, TaskMetadata> Metadata,
    IReadOnlyDictionary<string, Dictionary<string, byte[]>>? OwnBlobs = null) : IDisposable
{
    /// <summary>Task <paramref name="task"/>'s own blob <paramref name="name"/>, or null.</summary>
    public byte[]? Blob(string task, string name) => OwnBlobs is not null && OwnBlobs.TryGetValue(task, out var b) && b.TryGetValue(name, out var bytes) ? bytes : null;

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
    private readonly WeightSet _pretrained;
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
        _pretrained = WeightSet.Allocate(Tensors.Select(t => (t.Name, t.Shape)).ToList()); // one huge-page arena
        try
        {
            TaskDecoder.CheckIdentity(pretrained, m, e => _pretrained.Span(e.Name)); // one read: what is hashed is kept
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

    /// <summary>θ_pre of one tensor in the cache's arena, for the fused merge's blocks.</summary>
    internal IntPtr PretrainedPointer(string name) => _pretrained.Pointer(name);

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
    /// <param name="threads">Cores the fused merge spreads its blocks over (0: all). The result is the same bit for bit.</param>
    public static MergeResult Merge(string bundleDir, BundleManifest m, MergeCache cache, MergeRecipe recipe, PackProgress? progress = null, WeightSet? reuse = null, int threads = 0)
        => Merge(bundleDir, m, (ITensorSource)cache, recipe, progress, cache, reuse, threads);

    public static MergeResult Merge(string bundleDir, BundleManifest m, ITensorSource pretrained, MergeRecipe recipe, PackProgress? progress = null, int threads = 0)
        => Merge(bundleDir, m, pretrained, recipe, progress, null, null, threads);

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

    private static MergeResult Merge(string bundleDir, BundleManifest m, ITensorSource pretrained, MergeRecipe recipe, PackProgress? progress, MergeCache? cache, WeightSet? reuse, int threads)
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
        threads = threads <= 0 ? Environment.ProcessorCount : threads;

        BundleStream? files = null;
        var slots = new List<RecordSlots>();
        var layout = stored.Select(e => (e.Name, e.Shape)).ToList();
        bool refill = reuse is not null && reuse.HasLayout(layout);
        if (!refill) reuse?.Dispose();
        var weights = refill ? reuse! : WeightSet.Allocate(layout);
        var own = new Dictionary<string, WeightSet>();
        var blobs = new Dictionary<string, Dictionary<string, byte[]>>();
        var metadata = new Dictionary<string, TaskMetadata>();
        WeightSet? newBase = null;
        Task<(Term? Base, Term[] Tasks)>? ahead = null;
        try
        {
            files = BundleStream.Open(bundleDir, m, tasks.Select(t => t.Entry).ToList(), readBase: cache?.Base is null);
            var stream = files;
            for (int t = 0; t < tasks.Count; t++) metadata[tasks[t].Entry.Name] = stream.Metadata[t]!;
            if (stream.ReadsBase && cache is { KeepsBase: true })
                newBase = WeightSet.Allocate(stored.Where(e => e.Storage == "quantized").Select(e => (e.Name, e.Shape)).ToList());
            for (int f = 0; f <= tasks.Count; f++) slots.Add(new RecordSlots());

            // Stage 1, one tensor ahead of stage 2: the next records of every file (one step of the bundle stream,
            // checksums and record rules checked there), copied out of the pipes. Only this function touches the stream
            // until the table is done, and never twice at once: each call is awaited before the next starts.
            (Term? Base, Term[] Tasks) Read(int i)
            {
                if (stream.Position != i - 1 || !stream.MoveNext())
                    throw new InvalidOperationException($"the bundle stream is not at tensor {i}");
                int slot = i & 1;
                Term? b = stream.BaseRecord is { } baseRecord ? slots[^1].Hold(baseRecord, o.Mode, slot) : null;
                var terms = new Term[tasks.Count];
                for (int t = 0; t < terms.Length; t++) terms[t] = slots[t].Hold(stream.TaskRecord(t), o.Mode, slot);
                return (b, terms);
            }

            var next = stored.Count > 0 ? Read(0) : default;
            for (int i = 0; i < stored.Count; i++)
            {
                var e = stored[i];
                var (baseTerm, taskTerms) = next;
                if (i + 1 < stored.Count && threads > 1)
                {
                    int following = i + 1;
                    ahead = Task.Run(() => Read(following));
                }
                progress?.Invoke("merging", i, stored.Count);
                var dst = weights.Span(e.Name);
                bool byBlock = cache is null && pretrained.ReadsRanges;
                if (cache is null && !byBlock) pretrained.ReadFloat32(e.Name, dst);
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
                bool quantized = e.Storage == "quantized";
                bool fqValues = o.Scheme == Scheme.Fq && quantized; // FQ records hold θ_t: θ_pre·(1 − Σλ) first
                Term? b = null;
                bool fill = false;
                unsafe
                {
                    if (cache?.Base is { } cachedBase && quantized) b = Term.Floats((float*)cachedBase.Pointer(e.Name), baseCoefficient);
                    else if (baseTerm is { } record)
                    {
                        b = record.WithC(baseCoefficient);
                        fill = newBase is not null;
                    }
                    new FusedTensor
                    {
                        Dst = (float*)weights.Pointer(e.Name),
                        Length = dst.Length,
                        Pretrained = cache is null ? null : (float*)cache.PretrainedPointer(e.Name),
                        PretrainedSource = byBlock ? pretrained : null,
                        Name = e.Name,
                        ScaleSelf = fqValues,
                        SelfCoefficient = -baseCoefficient,
                        Base = b,
                        FillBase = fill ? (float*)newBase!.Pointer(e.Name) : null,
                        Tasks = taskTerms.Select((term, t) => term.WithC(coefficients[t])).Where(term => term.C != 0f).ToArray(),
                    }.Run(threads);
                }
                if (ahead is not null)
                {
                    var reading = ahead;
                    ahead = null;
                    next = reading.GetAwaiter().GetResult(); // a format error of the next records surfaces here, as itself
                }
                else if (i + 1 < stored.Count) next = Read(i + 1);
            }
            for (int t = 0; t < tasks.Count; t++)
            {
                var set = new WeightSet();
                own[tasks[t].Entry.Name] = set;
                var taskBlobs = blobs[tasks[t].Entry.Name] = [];
                stream.ReadOwn(t, (int _, OwnTensorEntry entry, in BundleRecord r) => Accumulate.Record(r, o.Mode, 1f, set.Add(entry.Name, entry.Shape)),
                    (int _, OwnBlobEntry blob, in BundleRecord r) => taskBlobs[blob.Name] = System.Buffers.BuffersExtensions.ToArray(r.Payload));
            }
            stream.Finish();
            if (cache is not null && newBase is not null) cache.Base = newBase;
            progress?.Invoke("merging", stored.Count, stored.Count);
            return new MergeResult(weights, own, metadata, blobs);
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
            try { ahead?.Wait(); } catch (Exception) { } // the failure being thrown matters; the reader must stop before its file closes
            files?.Dispose();
            foreach (var s in slots) s.Dispose();
        }
    }
}
