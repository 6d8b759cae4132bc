using System.Diagnostics;
using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Merging;
using EdgeTvq.Runtime.Inference;

namespace EdgeTvq.Runtime.Serving;

/// <summary>Timings of a switch: merge (streamed from storage), session build, total until the new model served.</summary>
public sealed record SwitchReport(MergeRecipe Recipe, TimeSpan Merge, TimeSpan Session, TimeSpan Total);

/// <summary>
/// Serves one bundle on one ONNX model and switches between merges without ever serving a half-merged model:
/// a switch builds the new <see cref="LiveModel"/> completely aside (merge, verification of every record, session),
/// then swaps it in with one atomic exchange. Requests take a <see cref="Lease"/> on whichever model is current when
/// they start and keep it until they finish; the retired model is disposed when its last lease ends.
/// θ_pre and the dequantized RTVQ base stay cached (<see cref="MergeCache"/>), so a switch reads only task files,
/// and the weights of the retired model are refilled by the next switch instead of allocating new memory.
/// </summary>
public sealed class ModelHost : IDisposable
{
    private readonly string _bundleDir, _modelPath;
    private readonly BundleManifest _manifest;
    private readonly MergeCache _cache;
    private readonly InferenceOptions _options;
    private readonly Lock _switchLock = new();
    private LiveModel? _current;
    private WeightSet? _spare; // the last retired model's weights, refilled by the next switch
    private volatile bool _disposed;

    public BundleManifest Manifest => _manifest;
    public TimeSpan CacheLoadTime { get; }

    public ModelHost(string bundleDir, string modelPath, InferenceOptions options)
    {
        if (!File.Exists(modelPath)) throw new FileNotFoundException($"{modelPath}: no such ONNX model", modelPath);
        _bundleDir = bundleDir;
        _modelPath = modelPath;
        _options = options;
        _manifest = ManifestIO.Load(bundleDir);
        var clock = Stopwatch.StartNew();
        using (var pretrained = new CheckpointTensorSource(modelPath))
            _cache = new MergeCache(pretrained, _manifest); // refuses a model whose weights are not the bundle's pretrained ones
        CacheLoadTime = clock.Elapsed;
    }

    /// <summary>Builds <paramref name="recipe"/> aside and makes it current; the previous model finishes its requests.</summary>
    public SwitchReport Switch(MergeRecipe recipe)
    {
        lock (_switchLock)
        {
            var clock = Stopwatch.StartNew();
            var next = LiveModel.Build(_bundleDir, _manifest, _cache, _modelPath, recipe, _options,
                Interlocked.Exchange(ref _spare, null), Recycle);
            var previous = Interlocked.Exchange(ref _current, next);
            var total = clock.Elapsed;
            previous?.Release();
            return new SwitchReport(recipe, next.MergeTime, next.SessionTime, total);
        }
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
            var model = Volatile.Read(ref _current) ?? throw new InvalidOperationException("no model is loaded yet: switch to a task or merge first");
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
        }
    }
}
