using EdgeTvq.Bundle;
using EdgeTvq.Merging;
using EdgeTvq.Runtime.Inference;
using EdgeTvq.Runtime.Input;
using EdgeTvq.Runtime.Tasks;

namespace EdgeTvq.Runtime.Serving;

/// <summary>What the runtime knows about one task of the live model: its head, labels and preprocessing.</summary>
public sealed record TaskView(string Name, LinearHead? Head, IReadOnlyList<string>? Labels, Preprocessing Preprocessing);

/// <summary>
/// One complete, servable model: the ONNX session with the merged weights bound, and the heads of the recipe's
/// tasks. Immutable once built. Reference-counted: the host holds one reference and every request in flight holds
/// one (a <see cref="Lease"/>), so a model retired by a switch is disposed only after its last request finished.
/// </summary>
public sealed class LiveModel
{
    private readonly ModelSession _session;
    private Action<WeightSet>? _onRetired;
    private int _references = 1;
    private readonly TaskCompletionSource _retired = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the last reference is gone and the session is closed (its weights handed back or freed).</summary>
    public Task Retired => _retired.Task;

    public MergeRecipe Recipe { get; }
    public IReadOnlyDictionary<string, TaskView> Tasks { get; }
    public string InputName { get; }
    public string OutputName { get; }
    public TimeSpan MergeTime { get; }
    public TimeSpan SessionTime => _session.BuildTime;
    public ModelSession Session => _session;

    private LiveModel(ModelSession session, MergeRecipe recipe, IReadOnlyDictionary<string, TaskView> tasks, TimeSpan mergeTime)
    {
        (_session, Recipe, Tasks, MergeTime) = (session, recipe, tasks, mergeTime);
        InputName = session.InputNames.Count == 1 ? session.InputNames[0] : throw new InvalidDataException($"the model must have exactly one data input, it has: {string.Join(", ", session.InputNames)}");
        OutputName = session.OutputNames[0];
    }

    /// <summary>Merges <paramref name="recipe"/> from the bundle and builds its session; nothing is shared with other live models.</summary>
    /// <param name="reuse">weights of a retired model to refill (ownership passes here), or null</param>
    /// <param name="onRetired">receives the weights back when this model's last lease ends (weights-as-inputs sessions)</param>
    public static LiveModel Build(string bundleDir, BundleManifest manifest, MergeCache cache, string modelPath, MergeRecipe recipe, InferenceOptions options,
        WeightSet? reuse = null, Action<WeightSet>? onRetired = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var merged = BundleMerger.Merge(bundleDir, manifest, cache, recipe, reuse: reuse);
        var mergeTime = clock.Elapsed;
        bool weightsHanded = false;
        try
        {
            var tasks = new Dictionary<string, TaskView>();
            foreach (var (name, own) in merged.OwnTensors)
            {
                var meta = merged.Metadata[name];
                tasks[name] = new TaskView(name, LinearHead.From(own, name), meta.Labels, Preprocessing.From(meta.Preprocessing));
            }
            var weightNames = merged.Weights.Names.ToList();
            weightsHanded = true; // ModelSession.Create owns (and on failure frees) the weights from here
            var session = ModelSession.Create(modelPath, merged.Weights, new InferenceOptions
            {
                Mode = options.Mode, Provider = options.Provider, DeviceId = options.DeviceId,
                IntraOpThreads = options.IntraOpThreads, OptimizationLevel = options.OptimizationLevel, WeightNames = weightNames,
            });
            foreach (var own in merged.OwnTensors.Values) own.Dispose();
            return new LiveModel(session, recipe, tasks, mergeTime) { _onRetired = onRetired };
        }
        catch
        {
            if (!weightsHanded) merged.Weights.Dispose();
            foreach (var own in merged.OwnTensors.Values) own.Dispose();
            throw;
        }
    }

    /// <summary>Features for a batch of preprocessed images [n, 1, size, size].</summary>
    public float[] Encode(float[] batch, int n, int size) =>
        _session.Run(InputName, batch, [n, 1, size, size], OutputName);

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
            if (_onRetired is { } give && _session.DisposeKeepingWeights() is { } weights) give(weights);
            else _session.Dispose();
        }
        finally { _retired.TrySetResult(); }
    }
}

/// <summary>A request's hold on a live model; disposing it releases the hold.</summary>
public readonly struct Lease(LiveModel model) : IDisposable
{
    public LiveModel Model { get; } = model;
    public void Dispose() => Model.Release();
}
