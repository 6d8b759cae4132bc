using EdgeTvq.Bundle;
using EdgeTvq.Merging;
using EdgeTvq.Runtime.Inference;
using EdgeTvq.Runtime.Input;
using EdgeTvq.Runtime.Tasks;

namespace EdgeTvq.Runtime.Serving;

/// <summary>What the runtime knows about one task of the live model: its kind, head, labels and preprocessing.</summary>
public sealed record TaskView(string Name, TaskKind Kind, ITaskHead? Head, IReadOnlyList<string>? Labels, PreprocessingSpec Preprocessing)
{
    /// <summary>The task's metadata and head as a merge delivered them (own tensors, own blobs).</summary>
    public static TaskView From(string name, TaskMetadata meta, WeightSet? own, byte[]? headOnnx, HeadCache heads)
    {
        string where = $"task '{name}'";
        PreprocessingSpec spec;
        try { spec = PreprocessingSpec.Parse(meta.Preprocessing); }
        catch (FormatException e) { throw new InvalidDataException($"{where}: {e.Message}; fix the task metadata and re-pack the task"); }
        var linear = own is null ? null : LinearHead.From(own, name);
        if (linear is not null && headOnnx is not null)
            throw new InvalidDataException($"{where} has both head.weight/head.bias tensors and a head.onnx graph; pack it with one head");
        var kind = TaskKinds.Of(meta, where);
        // Last, so nothing throws once the head is held: the caller releases it with the model (LiveModel.Release).
        ITaskHead? head = headOnnx is not null ? heads.Acquire(name, headOnnx) : linear;
        return new TaskView(name, kind, head, meta.Labels, spec);
    }
}

/// <summary>
/// One complete, servable model: the ONNX session with the merged weights bound, and the heads of the recipe's
/// tasks. Immutable once built. Reference-counted: the host holds one reference and every request in flight holds
/// one (a <see cref="Lease"/>), so a model retired by a switch is disposed only after its last request finished.
/// </summary>
public sealed class LiveModel
{
    private readonly ModelSession _session;
    private readonly ModelSession.WeightBinding? _binding; // the host's shared session runs with these weights
    private Action<WeightSet>? _onRetired;
    private HeadCache? _headCache; // gets the tasks' ONNX heads back when the model retires
    private int _references = 1;
    private readonly TaskCompletionSource _retired = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the last reference is gone and the session is closed (its weights handed back or freed).</summary>
    public Task Retired => _retired.Task;

    public MergeRecipe Recipe { get; }
    /// <summary>The bundle generation this model was merged from (<see cref="ModelHost.BundleGeneration"/> at its switch).</summary>
    public string Generation { get; internal set; } = "";
    public IReadOnlyDictionary<string, TaskView> Tasks { get; }
    public string InputName { get; }
    public string OutputName { get; }
    public TimeSpan MergeTime { get; }
    /// <summary>Building this model's session, or, on the host's shared session, binding its weights.</summary>
    public TimeSpan SessionTime { get; }
    public ModelSession Session => _session;

    /// <summary>
    /// The weights this model runs with, bound zero-copy (weights-as-inputs sessions; null for embedded ones). For
    /// offline probes that own the model (<see cref="SensitivityProbe"/>): a write changes what the next run computes,
    /// so it must never touch a model that serves requests.
    /// </summary>
    internal WeightSet? ProbeWeights => _binding is not null ? _binding.Weights : _session.BoundWeights;

    private LiveModel(ModelSession session, ModelSession.WeightBinding? binding, MergeRecipe recipe, IReadOnlyDictionary<string, TaskView> tasks,
        TimeSpan mergeTime, TimeSpan sessionTime)
    {
        (_session, _binding, Recipe, Tasks, MergeTime, SessionTime) = (session, binding, recipe, tasks, mergeTime, sessionTime);
        InputName = session.InputNames.Count == 1 ? session.InputNames[0] : throw new InvalidDataException($"the model must have exactly one data input, it has: {string.Join(", ", session.InputNames)}");
        OutputName = session.OutputNames[0];
    }

    /// <summary>Merges <paramref name="recipe"/> from the bundle and builds its session; nothing is shared with other live models.</summary>
    /// <param name="reuse">weights of a retired model to refill (ownership passes here), or null</param>
    /// <param name="onRetired">receives the weights back when this model's last lease ends (weights-as-inputs sessions)</param>
    /// <param name="shared">
    /// A weights-as-inputs session shared by the host's models (<see cref="ModelSession.CreateShared"/>): the merged
    /// weights are bound to it and no session is built; null builds this model its own session. The shared session
    /// is not owned: it outlives the model.
    /// </param>
    /// <param name="heads">where the tasks' ONNX heads are built once and shared (the host's)</param>
    public static LiveModel Build(string bundleDir, BundleManifest manifest, MergeCache cache, string modelPath, MergeRecipe recipe, InferenceOptions options,
        HeadCache heads, WeightSet? reuse = null, Action<WeightSet>? onRetired = null, ModelSession? shared = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var merged = BundleMerger.Merge(bundleDir, manifest, cache, recipe, reuse: reuse, threads: options.MergeThreads);
        var mergeTime = clock.Elapsed;
        bool weightsHanded = false;
        var tasks = new Dictionary<string, TaskView>();
        try
        {
            if (MergedStatistics.Problem(merged.Weights) is { } problem)
                throw new InvalidDataException($"{recipe}: {problem}");
            foreach (var (name, own) in merged.OwnTensors)
                tasks[name] = TaskView.From(name, merged.Metadata[name], own, merged.Blob(name, OwnBlobEntry.HeadOnnx), heads);
            weightsHanded = true; // ModelSession.Create / Bind owns (and on failure frees) the weights from here
            if (shared is not null)
            {
                var bindClock = System.Diagnostics.Stopwatch.StartNew();
                var binding = shared.Bind(merged.Weights);
                foreach (var own in merged.OwnTensors.Values) own.Dispose();
                return new LiveModel(shared, binding, recipe, tasks, mergeTime, bindClock.Elapsed) { _onRetired = onRetired, _headCache = heads };
            }
            var session = ModelSession.Create(modelPath, merged.Weights, SessionOptionsFor(options, merged.Weights.Names.ToList()));
            foreach (var own in merged.OwnTensors.Values) own.Dispose();
            return new LiveModel(session, null, recipe, tasks, mergeTime, session.BuildTime) { _onRetired = onRetired, _headCache = heads };
        }
        catch
        {
            if (!weightsHanded) merged.Weights.Dispose();
            foreach (var own in merged.OwnTensors.Values) own.Dispose();
            ReleaseHeads(heads, tasks.Values);
            throw;
        }
    }

    /// <summary>The options of a session over the merged weights named <paramref name="weightNames"/>.</summary>
    public static InferenceOptions SessionOptionsFor(InferenceOptions options, IReadOnlyCollection<string> weightNames) => new()
    {
        Mode = options.Mode, Provider = options.Provider, DeviceId = options.DeviceId,
        IntraOpThreads = options.IntraOpThreads, OptimizationLevel = options.OptimizationLevel, WeightNames = weightNames,
    };

    /// <summary>The encoder's output for a batch of preprocessed images [n, C, H, W].</summary>
    public FloatTensor Encode(float[] batch, long[] shape)
    {
        var data = _binding is null
            ? _session.Run(InputName, batch, shape, OutputName, out var outShape)
            : _session.Run(_binding, InputName, batch, shape, OutputName, out outShape);
        return new FloatTensor(data, outShape);
    }

    /// <summary>The encoder's output, flattened, for a batch of one-channel square inputs [n, 1, size, size].</summary>
    public float[] Encode(float[] batch, int n, int size) => Encode(batch, [n, 1, size, size]).Data;

    /// <summary>The encoder input's declared shape [n, C, H, W] (−1 where dynamic).</summary>
    public long[] InputShape => _inputShape ??= _session.InputShape(InputName);
    private long[]? _inputShape;

    /// <summary>The channels the encoder's input declares, or null when dynamic.</summary>
    public int? InputChannels => InputShape is [_, > 0 and var c, ..] ? (int)c : null;

    internal bool TryAddReference()
    {
        while (true)
        {
            int r = Volatile.Read(ref _references);
            if (r == 0) return false;
            if (Interlocked.CompareExchange(ref _references, r + 1, r) == r) return true;
        }
    }

    internal void Release()
    {
        if (Interlocked.Decrement(ref _references) != 0) return;
        try
        {
            if (_binding is not null)
            {
                // The shared session stays (the host owns it); only this model's weights go back.
                if (_onRetired is { } giveBack && _binding.DisposeKeepingWeights() is { } kept) giveBack(kept);
                else _binding.Dispose();
            }
            else if (_onRetired is { } give && _session.DisposeKeepingWeights() is { } weights) give(weights);
            else _session.Dispose();
        }
        finally
        {
            if (_headCache is { } heads) ReleaseHeads(heads, Tasks.Values);
            _retired.TrySetResult();
        }
    }

    private static void ReleaseHeads(HeadCache heads, IEnumerable<TaskView> tasks)
    {
        foreach (var t in tasks)
            if (t.Head is OnnxHead h) heads.Release(h);
    }
}

/// <summary>A request's hold on a live model; disposing it releases the hold.</summary>
public readonly struct Lease(LiveModel model) : IDisposable
{
    public LiveModel Model { get; } = model;
    public void Dispose() => Model.Release();
}
