using System.CommandLine;
using EdgeTvq.Bundle;
using EdgeTvq.Merging;
using EdgeTvq.Runtime.Inference;

namespace EdgeTvq.Runtime.Commands;

/// <summary>Options shared by the commands that load a model: bundle, model, session mode, provider, threads.</summary>
internal sealed class RuntimeOptions
{
    public Option<string> Bundle { get; } = new("--bundle") { Description = "bundle folder (edgetvq-pack output)", Required = true };
    public Option<string> Model { get; } = new("--model") { Description = "ONNX model of the pretrained network (its initializers are θ_pre)", Required = true };
    public Option<string> Mode { get; } = new("--mode") { Description = "inputs (weights bound per run: fast switches) | embedded (weights built into an optimized session: fastest inference)", DefaultValueFactory = _ => "inputs" };
    public Option<string> Provider { get; } = new("--provider") { Description = "cpu | cuda | tensorrt (falls back to cpu with a message when absent)", DefaultValueFactory = _ => "cpu" };
    public Option<string?> OrtLibrary { get; } = new("--ort-library") { Description = "load this libonnxruntime.so instead of the bundled one (e.g. the Jetson GPU build)" };
    public Option<int> Threads { get; } = new("--threads") { Description = "ONNX Runtime intra-op threads (0: one per core)", DefaultValueFactory = _ => 0 };
    public Option<bool> LowMemory { get; } = new("--low-memory") { Description = "one model-sized weight buffer besides θ_pre (4 GB boards such as the Jetson Nano): no spare buffer, no cached RTVQ base; a switch pauses serving while it merges in place" };

    public void AddTo(Command c)
    {
        foreach (var o in new Option[] { Bundle, Model, Mode, Provider, OrtLibrary, Threads, LowMemory }) c.Options.Add(o);
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
            IntraOpThreads = r.GetValue(Threads),
        };
    }

    /// <summary>Help text of --merge: every method name.</summary>
    public static string MergeHelp =>
        $"merge method over the bundle's tasks (or --tasks): {string.Join(" | ", MergeRecipe.MethodNames)} (ta = task_arithmetic); emr and tsv_compress build --task's model; default: individual";

    /// <summary>--tasks: names, repeated or comma-separated; null when absent.</summary>
    public static IReadOnlyList<string>? SplitTasks(string[]? values) =>
        values is null || values.Length == 0 ? null : values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();

    /// <summary>
    /// The merge recipe for a bundle: --recipe NAME|FILE.json (a named recipe of the manifest or a recipe file), or
    /// --merge METHOD over --tasks (default: every task) with --lambda (the method's default when absent) and --beta
    /// (LiNeS). individual, emr and tsv_compress serve <paramref name="task"/>.
    /// </summary>
    public static MergeRecipe Recipe(string? task, string? merge, float? lambda, float beta, BundleManifest m, IReadOnlyList<string>? tasks = null, string? recipe = null)
    {
        if (recipe is not null)
        {
            if (merge is not null) throw new ArgumentException("--recipe and --merge exclude each other (a recipe names its method)");
            return BundleRecipes.Resolve(m, recipe, task);
        }
        if (lambda is { } l && !float.IsFinite(l)) throw new ArgumentException($"--lambda must be a finite number, got {l}");
        var method = merge is null ? MergeMethod.Individual
            : MergeRecipe.ParseMethod(merge) ?? throw new ArgumentException($"--merge must be one of {string.Join(", ", MergeRecipe.MethodNames)} (or ta), got '{merge}'");
        var selected = tasks ?? m.Tasks.Select(t => t.Name).ToList();
        foreach (var t in selected) TaskDecoder.FindTask(m, t);
        return method switch
        {
            MergeMethod.Individual => MergeRecipe.Individual(task ?? throw new ArgumentException("individual needs --task")),
            MergeMethod.TaskArithmetic => MergeRecipe.TaskArithmetic(selected, lambda ?? MergeRecipe.DefaultLambda),
            MergeMethod.LiNeS => MergeRecipe.LiNeS(selected, m.Tensors.Select(t => t.Name), beta),
            MergeMethod.Emr or MergeMethod.TsvCompress when task is null => throw new ArgumentException($"--merge {merge} builds one task's model: it needs --task"),
            MergeMethod.TsvCompress when lambda is not null => throw new ArgumentException("--lambda is not used by tsv_compress"),
            _ => MergeRecipe.Of(method, selected, task) with { Lambda = lambda },
        };
    }
}
