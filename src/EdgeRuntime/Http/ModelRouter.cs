using EdgeTvq.Bundle;
using EdgeTvq.Format;
using EdgeTvq.Merging;
using EdgeTvq.Runtime.Input;
using EdgeTvq.Runtime.Serving;
using EdgeTvq.Runtime.Tasks;

namespace EdgeTvq.Runtime.Http;

/// <summary>An error the API answers with its status code and {"error": message}.</summary>
public sealed class ApiException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
    /// <summary>Seconds a client should wait before retrying (503), or null.</summary>
    public int? RetryAfter { get; init; }
}

/// <summary>
/// What the service knows about a task (an API "model") without loading it: from its bundle file's metadata, and
/// the number of classes when its linear head fixes it.
/// </summary>
public sealed record TaskInfo(string Name, TaskKind Kind, PreprocessingSpec Preprocessing, int? Classes, IReadOnlyList<string>? Labels);

/// <summary>What <see cref="ModelRouter.Activity"/> reports.</summary>
public enum RouterActivity { SwitchStarted, SwitchDone, SwitchFailed, ReloadDone, ReloadRefused }

/// <summary>
/// The API's models are the bundle's tasks. A request for a task is answered by the live model when that model serves
/// the task (a merged model serves all its tasks together: no switch); otherwise, with auto-switching on, the host
/// switches first: to the same per-task method for the requested task when the live recipe builds one task's model
/// (individual, EMR, TSV-Compress: <see cref="MergeRecipe.ForTask"/>), else to the task's individual model. With
/// auto-switching off such a request is refused with 409 and the repository load call to use. Switches (automatic
/// and loads) go one at a time through one gate; whoever switches takes its lease before leaving the gate, so a
/// request that caused a switch is always served by it (no livelock between two clients alternating tasks).
/// </summary>
public sealed class ModelRouter
{
    private readonly ModelHost _host;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ServiceMetrics _metrics;

    private readonly string _bundleDir;
    /// <summary>The tasks of one generation, replaced as a whole by <see cref="Reload"/>.</summary>
    private sealed record Catalog(string Generation, IReadOnlyList<string> Names, IReadOnlyDictionary<string, TaskInfo> Tasks);
    private volatile Catalog _catalog;

    public bool AutoSwitch { get; }

    /// <summary>
    /// Raised on every switch (automatic, load, button) and bundle pickup, on the thread doing it: the status LED
    /// follows it (<see cref="Device.StatusLed"/>). Handlers must be quick and must not throw.
    /// </summary>
    public event Action<RouterActivity>? Activity;
    public IReadOnlyDictionary<string, TaskInfo> Tasks => _catalog.Tasks;
    public IReadOnlyList<string> TaskNames => _catalog.Names;
    public string BundleGeneration => _host.BundleGeneration;
    public BundleManifest Manifest => _host.Manifest;
    /// <summary>The encoder's input name (the one input a request carries).</summary>
    public string InputName { get; }

    public ModelRouter(ModelHost host, bool autoSwitch, ServiceMetrics metrics, string bundleDir)
    {
        (_host, AutoSwitch, _metrics, _bundleDir) = (host, autoSwitch, metrics, bundleDir);
        _catalog = new Catalog(host.BundleGeneration, host.Manifest.Tasks.Select(t => t.Name).ToList(), ReadTaskInfo(bundleDir, host.Manifest));
        using var lease = host.Acquire();
        InputName = lease.Model.InputName;
        InputShape = lease.Model.InputShape;
    }

    /// <summary>The encoder input's declared shape [n, C, H, W] (−1 where dynamic).</summary>
    public long[] InputShape { get; }

    /// <summary>Each task's preprocessing, classes and labels, from record 0 of its file and its head's shape in the manifest.</summary>
    private static Dictionary<string, TaskInfo> ReadTaskInfo(string bundleDir, BundleManifest m)
    {
        var infos = new Dictionary<string, TaskInfo>(StringComparer.Ordinal);
        foreach (var t in m.Tasks)
        {
            // Opening a task's stream checks its header and reads its metadata record; the tensors are not read.
            using var stream = BundleStream.Open(bundleDir, m, [t], readBase: false);
            var meta = stream.Metadata[0]!;
            int? classes = t.OwnTensors.FirstOrDefault(o => o.Name == LinearHead.WeightName) is { Shape: [var c, _] } ? (int)c : null;
            string where = $"{t.File}: task '{t.Name}'";
            PreprocessingSpec spec;
            try { spec = PreprocessingSpec.Parse(meta.Preprocessing); }
            catch (FormatException e) { throw new InvalidDataException($"{where}: {e.Message}"); }
            infos[t.Name] = new TaskInfo(t.Name, TaskKinds.Of(meta, where), spec, classes, meta.Labels);
        }
        return infos;
    }

    /// <summary>
    /// Picks up a new bundle generation (<see cref="ModelHost.Reload"/>) and its tasks; one at a time with switches.
    /// Requests already holding a lease finish on their model; new requests see the new tasks.
    /// </summary>
    public async Task<ReloadReport> ReloadAsync(CancellationToken cancel = default)
    {
        await _gate.WaitAsync(cancel);
        try
        {
            ReloadReport report;
            try { report = _host.Reload(); }
            catch
            {
                Activity?.Invoke(RouterActivity.ReloadRefused);
                throw;
            }
            if (report.Changed) Activity?.Invoke(RouterActivity.ReloadDone);
            if (report.Changed || _catalog.Generation != _host.BundleGeneration)
            {
                var m = _host.Manifest;
                _catalog = new Catalog(_host.BundleGeneration, m.Tasks.Select(t => t.Name).ToList(), ReadTaskInfo(_bundleDir, m));
                _metrics.BundleGeneration = _host.BundleGeneration;
            }
            return report;
        }
        finally { _gate.Release(); }
    }

    public TaskInfo Find(string task) => Tasks.GetValueOrDefault(task)
        ?? throw new ApiException(404, $"unknown model '{Trim(task)}': the models are the bundle's tasks: {string.Join(", ", TaskNames)}");

    /// <summary>A lease on a complete model that serves <paramref name="task"/>, switching first if the policy allows.</summary>
    public async Task<Lease> LeaseForAsync(string task, CancellationToken cancel)
    {
        var lease = _host.Acquire();
        if (lease.Model.Tasks.ContainsKey(task)) return lease;
        var live = lease.Model.Recipe;
        lease.Dispose();
        if (!AutoSwitch)
            throw new ApiException(409, $"model '{task}' is not loaded: the live model is {live}, and automatic switching is off; " +
                                        $"POST /v2/repository/models/{task}/load first");
        await _gate.WaitAsync(cancel);
        try
        {
            lease = _host.Acquire();
            if (lease.Model.Tasks.ContainsKey(task)) return lease;
            var recipe = RecipeFor(task, lease.Model.Recipe);
            lease.Dispose();
            SwitchLocked(recipe, "auto");
            lease = _host.Acquire();
            if (lease.Model.Tasks.ContainsKey(task)) return lease;
            lease.Dispose();
            throw new ApiException(500, $"switched to {recipe} for model '{task}' but that model does not serve it");
        }
        finally { _gate.Release(); }
    }

    /// <summary>The recipe an automatic switch to <paramref name="task"/> builds from the live recipe (see the class remarks).</summary>
    public static MergeRecipe RecipeFor(string task, MergeRecipe live)
    {
        if (live.Descriptor.ServesOneTask)
        {
            try { return live.ForTask(task); }
            catch (ArgumentException) { }
        }
        return MergeRecipe.Individual(task);
    }

    /// <summary>Switches to <paramref name="recipe"/> (a repository load); returns null when the live model already is that recipe.</summary>
    public async Task<SwitchReport?> LoadAsync(MergeRecipe recipe, bool force, CancellationToken cancel, string reason = "load")
    {
        await _gate.WaitAsync(cancel);
        try
        {
            if (!force)
                using (var lease = _host.Acquire())
                    if (lease.Model.Recipe.ToString() == recipe.ToString()) return null;
            return SwitchLocked(recipe, reason);
        }
        finally { _gate.Release(); }
    }

    private SwitchReport SwitchLocked(MergeRecipe recipe, string reason)
    {
        Activity?.Invoke(RouterActivity.SwitchStarted);
        SwitchReport report;
        try { report = _host.Switch(recipe); } // a failed switch leaves the previous model serving
        catch
        {
            Activity?.Invoke(RouterActivity.SwitchFailed);
            throw;
        }
        _metrics.Switched(report, reason);
        Activity?.Invoke(RouterActivity.SwitchDone);
        return report;
    }

    /// <summary>The live model's recipe text (what every response names with the bundle generation).</summary>
    public string LiveRecipe()
    {
        using var lease = _host.Acquire();
        return lease.Model.Recipe.ToString();
    }

    public MergeRecipe LiveRecipeObject()
    {
        using var lease = _host.Acquire();
        return lease.Model.Recipe;
    }

    /// <summary>Whether the live model serves <paramref name="task"/>.</summary>
    public bool Serves(string task)
    {
        using var lease = _host.Acquire();
        return lease.Model.Tasks.ContainsKey(task);
    }

    internal static string Trim(string s) => s.Length <= 80 ? s : s[..80] + "…";
}
