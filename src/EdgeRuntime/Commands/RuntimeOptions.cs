using System.CommandLine;
using EdgeTvq.Bundle;
using EdgeTvq.Merging;
using EdgeTvq.Merging.Registry;
using EdgeTvq.Runtime.Inference;

namespace EdgeTvq.Runtime.Commands;

/// <summary>
/// Which bundles the device accepts: signed by a key in --trust-dir (default /etc/edgetvq/keys), or anything with
/// --allow-unsigned (development). Strict is the default (docs/bundle-format.md, section 9).
/// </summary>
internal sealed class TrustOptions
{
    public Option<string> TrustDir { get; } = new("--trust-dir") { Description = $"folder of trusted public keys (*.pem); default {BundleTrust.DefaultFolder}", DefaultValueFactory = _ => BundleTrust.DefaultFolder };
    public Option<bool> AllowUnsigned { get; } = new("--allow-unsigned") { Description = "development only: do not check signatures, so unsigned or re-edited bundles load" };

    public void AddTo(Command c)
    {
        c.Options.Add(TrustDir);
        c.Options.Add(AllowUnsigned);
    }

    public BundleTrust Load(ParseResult r) => BundleTrust.Load(r.GetValue(TrustDir)!, r.GetValue(AllowUnsigned));
}

/// <summary>Options shared by the commands that load a model: bundle, model, session mode, provider, threads, trust.</summary>
internal sealed class RuntimeOptions
{
    public Option<string> Bundle { get; } = new("--bundle") { Description = "bundle folder (edgetvq-pack output)", Required = true };
    public Option<string> Model { get; } = new("--model") { Description = "ONNX model of the pretrained network (its initializers are θ_pre)", Required = true };
    public Option<string> Mode { get; } = new("--mode") { Description = "inputs (weights bound per run: fast switches) | embedded (weights built into an optimized session: fastest inference)", DefaultValueFactory = _ => "inputs" };
    public Option<string> Provider { get; } = new("--provider") { Description = "cpu | cuda | tensorrt (falls back to cpu with a message when absent)", DefaultValueFactory = _ => "cpu" };
    public Option<string?> OrtLibrary { get; } = new("--ort-library") { Description = "load this libonnxruntime.so instead of the bundled one (e.g. the Jetson GPU build)" };
    public Option<int> Threads { get; } = new("--threads") { Description = "ONNX Runtime intra-op threads (0: one per core)", DefaultValueFactory = _ => 0 };
    public Option<int> MergeThreads { get; } = new("--merge-threads") { Description = "cores a merge or task switch uses (0: every core; the merged weights are the same for any count)", DefaultValueFactory = _ => 0 };
    public TrustOptions Trust { get; } = new();
    public Option<bool> LowMemory { get; } = new("--low-memory") { Description = "one model-sized weight buffer besides θ_pre (4 GB boards such as the Jetson Nano): no spare buffer, no cached RTVQ base; a switch pauses serving while it merges in place" };

    public void AddTo(Command c)
    {
        foreach (var o in new Option[] { Bundle, Model, Mode, Provider, OrtLibrary, Threads, MergeThreads, LowMemory }) c.Options.Add(o);
        Trust.AddTo(c);
    }

    public InferenceOptions Inference(ParseResult r)
    {
        if (r.GetValue(OrtLibrary) is { } lib) ExecutionProviders.UseLibrary(lib);
        return new InferenceOptions
        {
            Mode = r.GetValue(Mode) switch
            {
                "inputs" => SessionMode.WeightsAsInputs,
                "embedded" => SessionMode.Embedded,
                var m => throw new ArgumentException($"--mode must be inputs or embedded, got '{m}'"),
            },
            Provider = r.GetValue(Provider) switch
            {
                "cpu" => ExecutionProvider.Cpu,
                "cuda" => ExecutionProvider.Cuda,
                "tensorrt" => ExecutionProvider.TensorRt,
                var p => throw new ArgumentException($"--provider must be cpu, cuda or tensorrt, got '{p}'"),
            },
            IntraOpThreads = r.GetValue(Threads) >= 0 ? r.GetValue(Threads) : throw new ArgumentException("--threads must be 0 (one per core) or more"),
            MergeThreads = r.GetValue(MergeThreads) >= 0 ? r.GetValue(MergeThreads) : throw new ArgumentException("--merge-threads must be 0 (every core) or more"),
        };
    }

    /// <summary>Help text of --merge: every method name (<see cref="MethodRegistry"/>).</summary>
    public static string MergeHelp =>
        $"merge method over the bundle's tasks (or --tasks): {MethodRegistry.KnownNames}; " +
        $"{string.Join(", ", MethodRegistry.All.Where(d => d.ServesOneTask).Select(d => d.Name))} build --task's model; default: the bundle's default recipe (manifest \"defaultRecipe\", e.g. from edgetvq-pack tune), else individual";

    /// <summary>Help text of --lambda: the methods it scales and their defaults, and those that refuse it.</summary>
    public static string LambdaHelp =>
        "coefficient on the merged vector (default: the method's: " +
        string.Join(", ", MethodRegistry.All.Where(d => d.Lambda == LambdaUse.Scales)
            .Select(d => $"{d.Name} {d.LambdaSymbol} {d.DefaultLambda.ToString("G3", System.Globalization.CultureInfo.InvariantCulture)}")) +
        string.Concat(MethodRegistry.All.Where(d => d.Lambda == LambdaUse.Refused).Select(d => $"; not for {d.Name}")) + ")";

    /// <summary>Help text of --beta: the parameters it sets.</summary>
    public static string BetaHelp =>
        string.Join("; ", MethodRegistry.All.SelectMany(d => d.Parameters.Where(p => p.Option == "--beta").Select(p => $"{d.Name} {p.Meaning} (default {p.Default?.ToString(System.Globalization.CultureInfo.InvariantCulture)})")));

    /// <summary>--tasks: names, repeated or comma-separated; null when absent.</summary>
    public static IReadOnlyList<string>? SplitTasks(string[]? values) =>
        values is null || values.Length == 0 ? null : values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();

    /// <summary>
    /// The merge recipe for a bundle: --recipe NAME|FILE.json (a named recipe of the manifest or a recipe file), or
    /// --merge METHOD over --tasks (default: every task) with --lambda (the method's default when absent) and --beta
    /// (the parameter whose <see cref="MethodParameter.Option"/> it is: LiNeS's β) and <paramref name="parameters"/> (recipe
    /// "params"); methods that build one task's model serve <paramref name="task"/>.
    /// </summary>
    public static MergeRecipe Recipe(string? task, string? merge, float? lambda, float? beta, BundleManifest m, IReadOnlyList<string>? tasks = null, string? recipe = null,
        IReadOnlyDictionary<string, double>? parameters = null, bool individual = false)
    {
        if (recipe is not null)
        {
            if (merge is not null) throw new ArgumentException("--recipe and --merge exclude each other (a recipe names its method)");
            return BundleRecipes.Resolve(m, recipe, task);
        }
        if (merge is null && !individual && m.DefaultRecipe is not null)
        {
            // No merge option: the bundle's default recipe (manifest "defaultRecipe", e.g. set by edgetvq-pack tune).
            if (lambda is not null || beta is not null || tasks is not null || parameters is { Count: > 0 })
                throw new ArgumentException($"--lambda, --beta and --tasks need --merge METHOD (without one the bundle's default recipe '{m.DefaultRecipe}' is used; --individual serves the task alone)");
            return BundleRecipes.Resolve(m, m.DefaultRecipe, task);
        }
        if (lambda is { } l && !float.IsFinite(l)) throw new ArgumentException($"--lambda must be a finite number, got {l}");
        var method = merge is null ? MethodRegistry.Of(MergeMethod.Individual) : MethodRegistry.Get(merge, "--merge");
        var selected = tasks ?? m.Tasks.Select(t => t.Name).ToList();
        foreach (var t in selected) TaskDecoder.FindTask(m, t);
        if (method.ServesOneTask && task is null) throw new ArgumentException($"--merge {method.Name} builds one task's model: it needs --task");
        if (lambda is not null && method.Lambda == LambdaUse.Refused) throw new ArgumentException($"--lambda {method.LambdaRefusal}");
        // The same checks and construction as a recipe file: the command line is a recipe with the method's defaults.
        var options = new Dictionary<string, double>(parameters ?? new Dictionary<string, double>());
        if (beta is { } b)
            foreach (var p in method.Parameters.Where(p => p.Option == "--beta")) options[p.Name] = b;
        var document = new RecipeDocument
        {
            Method = method.Name,
            Tasks = selected.ToList(),
            Task = method.ServesOneTask ? task : null,
            Lambda = method.Lambda == LambdaUse.Scales ? lambda : null,
            Params = options.Count > 0 ? options : null,
        };
        return document.ToRecipe(m, $"--merge {method.Name}");
    }
}
