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

    public void AddTo(Command c)
    {
        foreach (var o in new Option[] { Bundle, Model, Mode, Provider, OrtLibrary, Threads }) c.Options.Add(o);
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

    /// <summary>The merge recipe from --individual / --merge ta|lines with --lambda / --beta, for a bundle.</summary>
    public static MergeRecipe Recipe(string task, string? merge, float lambda, float beta, BundleManifest m) => merge switch
    {
        null or "individual" => MergeRecipe.Individual(task),
        "ta" => MergeRecipe.TaskArithmetic(m.Tasks.Select(t => t.Name), lambda),
        "lines" => MergeRecipe.LiNeS(m.Tasks.Select(t => t.Name).ToList(), m.Tensors.Select(t => t.Name), beta),
        _ => throw new ArgumentException($"--merge must be ta, lines or individual, got '{merge}'"),
    };
}
