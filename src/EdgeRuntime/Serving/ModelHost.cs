using System.Diagnostics;
using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Merging;
using EdgeTvq.Runtime.Inference;
using EdgeTvq.Runtime.Tasks;

namespace EdgeTvq.Runtime.Serving;

/// <summary>A reload: the generation before and after (equal: nothing new), and the switch it needed, if any.</summary>
public sealed record ReloadReport(string Previous, string Current, SwitchReport? Switch)
{
    public bool Changed => Previous != Current;
}

/// <summary>Timings of a switch: merge (streamed from storage), session build, total until the new model served.</summary>
public sealed record SwitchReport(MergeRecipe Recipe, TimeSpan Merge, TimeSpan Session, TimeSpan Total);

/// <summary>
/// Serves one bundle on one ONNX model and switches between merges without ever serving a half-merged model:
/// a switch builds the new <see cref="LiveModel"/> completely aside (merge, verification of every record, session),
/// then swaps it in with one atomic exchange. Requests take a <see cref="Lease"/> on whichever model is current when
/// they start and keep it until they finish; the retired model is disposed when its last lease ends.
/// θ_pre and the dequantized RTVQ base stay cached (<see cref="MergeCache"/>), so a switch reads only task files,
/// and the weights of the retired model are refilled by the next switch instead of allocating new memory.
/// <para>
/// With weights bound as inputs (the default) every model runs on one ONNX Runtime session, built by the first switch:
/// each live model binds its own weights to it and every request names its model's weights, so a switch is a merge
/// and a bind, and requests of the retired model still finish on its weights.
/// </para>
/// <para>
/// Low-memory mode (boards like the 4 GB Jetson Nano) holds one model-sized weight buffer besides θ_pre: no spare,
/// no cached dq(base), and a switch first retires the current model, waits for its requests to finish, then merges
/// into its buffer. Requests that arrive meanwhile wait for the new model (still never a half-merged one); a switch
/// that fails rebuilds the previous recipe, so serving resumes as it was.
/// </para>
/// </summary>
public sealed class ModelHost : IDisposable
{
    private readonly string _bundleDir, _modelPath;
    private volatile BundleManifest _manifest;
    private volatile string _generation;
    private readonly BundleTrust? _trust;
    private readonly MergeCache _cache;
    private readonly HeadCache _heads;
    private readonly InferenceOptions _options;
    private readonly Lock _switchLock = new();
    private LiveModel? _current;
    private WeightSet? _spare; // the last retired model's weights, refilled by the next switch
    private volatile bool _disposed;
    private readonly bool _lowMemory;
    private volatile bool _switchingInPlace;
    private readonly ManualResetEventSlim _served = new(true); // reset while an in-place switch has no model to serve
    private ModelSession? _shared; // weights-as-inputs: the one session every model of this host runs on

    /// <summary>
    /// Weights-as-inputs mode: the session every model runs on, built once by the first switch (parsing and
    /// rewriting the model, creating the ONNX Runtime session); later switches only merge and bind. Null before the
    /// first switch and in embedded mode, where each model has the weights built into its own session.
    /// </summary>
    public ModelSession? SharedSession => _shared;
    /// <summary>How long building <see cref="SharedSession"/> took (zero until it is built).</summary>
    public TimeSpan SessionBuildTime { get; private set; }

    public BundleManifest Manifest => _manifest;
    /// <summary>The generation of the bundle this host serves (<see cref="BundleUpdate.GenerationOf"/>: SHA-256 of its manifest, 16 hex digits), read at start.</summary>
    public string BundleGeneration => _generation;
    /// <summary>The tasks' ONNX heads, shared by this host's live models.</summary>
    internal HeadCache Heads => _heads;
    public TimeSpan CacheLoadTime { get; }

    /// <summary>True while a low-memory switch has taken the current model out of service (for tests that time requests against it).</summary>
    internal bool IsSwitchingInPlace => _switchingInPlace;

    /// <summary>True when the host keeps one weight buffer and switches in place (see the class remarks).</summary>
    public bool LowMemory => _lowMemory;

    /// <param name="trust">when given, the manifest must carry a signature this trust accepts (<see cref="BundleTrust.LoadManifest(string)"/>)</param>
    public ModelHost(string bundleDir, string modelPath, InferenceOptions options, bool lowMemory = false, BundleTrust? trust = null)
    {
        _lowMemory = lowMemory;
        if (!File.Exists(modelPath)) throw new FileNotFoundException($"{modelPath}: no such ONNX model", modelPath);
        _bundleDir = bundleDir;
        _modelPath = modelPath;
        _options = options;
        _heads = new HeadCache(options.IntraOpThreads);
        // One read of manifest.json: its signature (when a trust is given), its generation and its contents agree.
        _trust = trust;
        var installed = BundleTrust.LoadInstalled(bundleDir, trust);
        _manifest = installed.Manifest;
        _generation = installed.Generation;
        var clock = Stopwatch.StartNew();
        using (var pretrained = new CheckpointTensorSource(modelPath))
            _cache = new MergeCache(pretrained, _manifest, keepBase: !lowMemory); // refuses a model whose weights are not the bundle's pretrained ones
        CacheLoadTime = clock.Elapsed;
    }

    /// <summary>
    /// Picks up a new generation of the bundle (an <c>edgetvq update</c> since the start or the last reload) without a
    /// restart. The new manifest is read once and checked like the first (its signature, when the host has a trust); it
    /// must be the same bundle on the same pretrained model, base file and tensor table, so the merge cache stays
    /// valid. The live model keeps serving — its weights do not depend on tasks added or removed elsewhere — unless the
    /// new generation dropped one of its tasks: then the host switches to task arithmetic over the new generation's
    /// tasks. Requests in flight finish on the model they hold. A refused generation leaves everything as it was.
    /// </summary>
    public ReloadReport Reload()
    {
        lock (_switchLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var installed = BundleTrust.LoadInstalled(_bundleDir, _trust);
            string previous = _generation;
            if (installed.Generation == previous) return new ReloadReport(previous, previous, null);
            var (old, next) = (_manifest, installed.Manifest);
            if (BundleUpdate.DiffersBeyondTasks(old, next) is { } what)
                throw new InvalidDataException($"{_bundleDir}: generation {installed.Generation} is another bundle ({what} changed); restart the service to serve it");
            _manifest = next;
            _generation = installed.Generation;
            SwitchReport? switched = null;
            if (Volatile.Read(ref _current) is { } live && live.Recipe.SelectedTasks.Any(t => next.Tasks.All(n => n.Name != t)))
                switched = Switch(MergeRecipe.TaskArithmetic(next.Tasks.Select(t => t.Name).ToList()));
            return new ReloadReport(previous, installed.Generation, switched);
        }
    }

    /// <summary>Builds <paramref name="recipe"/> aside and makes it current; the previous model finishes its requests.</summary>
    public SwitchReport Switch(MergeRecipe recipe)
    {
        lock (_switchLock)
        {
            if (_lowMemory) return SwitchInPlace(recipe);
            var clock = Stopwatch.StartNew();
            bool first = _shared is null;
            var next = LiveModel.Build(_bundleDir, _manifest, _cache, _modelPath, recipe, _options, _heads,
                Interlocked.Exchange(ref _spare, null), Recycle, SharedSessionOrNull());
            next.Generation = _generation;
            var previous = Interlocked.Exchange(ref _current, next);
            var total = clock.Elapsed;
            previous?.Release();
            return new SwitchReport(recipe, next.MergeTime, SessionPart(next, first), total);
        }
    }

    /// <summary>
    /// Low-memory switch: retire the current model, wait for its last request, merge into its weight buffer. New
    /// requests wait meanwhile. On failure the previous recipe is rebuilt into the same buffer and the error rethrown.
    /// </summary>
    private SwitchReport SwitchInPlace(MergeRecipe recipe)
    {
        var clock = Stopwatch.StartNew();
        bool first = _shared is null;
        _served.Reset();
        _switchingInPlace = true;
        var previous = Interlocked.Exchange(ref _current, null);
        try
        {
            if (previous is not null)
            {
                previous.Release();
                previous.Retired.Wait(); // its requests finish on it; then its weights come back through Recycle
            }
            LiveModel next;
            try
            {
                next = LiveModel.Build(_bundleDir, _manifest, _cache, _modelPath, recipe, _options, _heads, Interlocked.Exchange(ref _spare, null), Recycle, SharedSessionOrNull());
            }
            catch when (previous is not null)
            {
                var restored = LiveModel.Build(_bundleDir, _manifest, _cache, _modelPath, previous.Recipe, _options, _heads,
                    Interlocked.Exchange(ref _spare, null), Recycle, SharedSessionOrNull());
                restored.Generation = _generation;
                Volatile.Write(ref _current, restored);
                throw;
            }
            next.Generation = _generation;
            Volatile.Write(ref _current, next);
            var report = new SwitchReport(recipe, next.MergeTime, SessionPart(next, first), clock.Elapsed);
            // Hand the switch's transient managed memory (graph bytes, file buffers) back to the system now rather than
            // at the collector's leisure: on a small board that is the difference between one switch and the next OOM.
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            return report;
        }
        finally
        {
            _switchingInPlace = false;
            _served.Set();
        }
    }

    /// <summary>The session part of a switch: binding (or building the model's own session), plus building the shared session the first time.</summary>
    private TimeSpan SessionPart(LiveModel next, bool first) => next.SessionTime + (first && _shared is not null ? SessionBuildTime : TimeSpan.Zero);

    /// <summary>The shared session for weights-as-inputs hosts, built on first use over the bundle's stored tensors.</summary>
    private ModelSession? SharedSessionOrNull()
    {
        if (_options.Mode != SessionMode.WeightsAsInputs) return null;
        if (_shared is null)
        {
            var names = _manifest.Tensors.Where(e => e.Storage != "skipped").Select(e => e.Name).ToList();
            var clock = Stopwatch.StartNew();
            _shared = ModelSession.CreateShared(_modelPath, LiveModel.SessionOptionsFor(_options, names));
            SessionBuildTime = clock.Elapsed;
        }
        return _shared;
    }

    /// <summary>Keeps one retired weight set for the next switch (a second one is freed).</summary>
    private void Recycle(WeightSet weights)
    {
        Interlocked.Exchange(ref _spare, weights)?.Dispose();
        if (_disposed) Interlocked.Exchange(ref _spare, null)?.Dispose(); // a lease outlived the host
    }

    /// <summary>A hold on the current model for one request.</summary>
    public Lease Acquire()
    {
        while (true)
        {
            var model = Volatile.Read(ref _current);
            if (model is null)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (_switchingInPlace) { _served.Wait(); continue; }
                if (Volatile.Read(ref _current) is null) throw new InvalidOperationException("no model is loaded yet: switch to a task or merge first");
                continue;
            }
            if (model.TryAddReference()) return new Lease(model);
        }
    }

    public void Dispose()
    {
        lock (_switchLock)
        {
            _disposed = true;
            Interlocked.Exchange(ref _current, null)?.Release();
            Interlocked.Exchange(ref _spare, null)?.Dispose();
            _cache.Dispose();
            _shared?.Dispose(); // waits for runs in flight; a lease used after this fails with ObjectDisposedException
            _heads.Dispose();
            _served.Set();
        }
    }
}
