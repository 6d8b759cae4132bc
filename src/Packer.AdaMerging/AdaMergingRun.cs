using System.Globalization;
using System.Text.Json;
using EdgeTvq.Bundle;
using EdgeTvq.Merging.Methods;
using TorchSharp;
using static TorchSharp.torch;

namespace EdgeTvq.AdaMerging;

public sealed record AdaMergingOptions
{
    public Granularity Granularity { get; init; } = Granularity.LayerWise;
    public int Steps { get; init; } = 500;
    public double LearningRate { get; init; } = 1e-3;
    public double Init { get; init; } = 0.3;
    public int BatchSize { get; init; } = 16;
    /// <summary>Input normalisation x = (pixel/255 − mean)/std (the zoo's: 0.5, 0.5).</summary>
    public float Mean { get; init; } = 0.5f;
    public float Std { get; init; } = 0.5f;
    /// <summary>Images read per task (the first ones of each file).</summary>
    public int ImageLimit { get; init; } = int.MaxValue;
    /// <summary>Images per task of the fixed set on which the entropy is reported before and after.</summary>
    public int EvalImages { get; init; } = 128;
    /// <summary>A task's head is its own tensors {HeadPrefix}.weight and {HeadPrefix}.bias.</summary>
    public string HeadPrefix { get; init; } = "head";
    public int Seed { get; init; }
    /// <summary>torch threads; 0: one per core.</summary>
    public int Threads { get; init; }
}

/// <summary>The outcome: a task-arithmetic recipe with per-task and per-(task, tensor) coefficients, in [0, 1].</summary>
public sealed record AdaMergingResult(IReadOnlyList<string> Tasks, IReadOnlyDictionary<string, double> Coefficients,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> TensorCoefficients, string Source, double EntropyBefore, double EntropyAfter)
{
    /// <summary>
    /// The recipe JSON: {"method": "task_arithmetic", "tasks": [...], "coefficients": {task: λ_t},
    /// "tensor_coefficients": {task: {tensor: λ_t^l}}, "source": "..."} (θ = θ_pre + Σ_t λ_t^l τ̂_t^l; a tensor a task
    /// does not list uses its λ_t; task-wise results list none).
    /// </summary>
    public void WriteRecipe(string path)
    {
        string partial = path + ".partial";
        using (var stream = File.Create(partial))
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("method", "task_arithmetic");
            w.WriteStartArray("tasks");
            foreach (var t in Tasks) w.WriteStringValue(t);
            w.WriteEndArray();
            w.WriteStartObject("coefficients");
            foreach (var t in Tasks) w.WriteNumber(t, (float)Coefficients[t]);
            w.WriteEndObject();
            w.WriteStartObject("tensor_coefficients");
            foreach (var (task, perTensor) in TensorCoefficients)
            {
                w.WriteStartObject(task);
                foreach (var (name, c) in perTensor) w.WriteNumber(name, (float)c);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteString("source", Source);
            w.WriteEndObject();
        }
        File.Move(partial, path, overwrite: true);
    }
}

/// <summary>AdaMerging of a bundle's quantized task vectors with a TorchScript encoder and the tasks' linear heads.</summary>
public static class AdaMergingRun
{
    /// <param name="images">task name → idx images file; the tasks merged are these (each must be in the bundle).</param>
    /// <param name="progress">(phase, step, steps, latest batch loss).</param>
    public static AdaMergingResult Run(string bundleDir, ITensorSource pretrained, string modelPath, IReadOnlyList<(string Task, string Images)> images,
        AdaMergingOptions o, Action<string, int, int, double>? progress = null)
    {
        if (images.Count == 0) throw new ArgumentException("AdaMerging needs unlabeled images of at least one task (--images TASK=FILE)");
        if (o.Steps < 0 || o.BatchSize < 1) throw new ArgumentException("--steps must be ≥ 0 and the batch size ≥ 1");
        if (!File.Exists(modelPath)) throw new FileNotFoundException($"model {modelPath} not found (export it as TorchScript: docs/adamerging.md)", modelPath);
        foreach (var (task, file) in images)
            if (!File.Exists(file)) throw new FileNotFoundException($"images of task '{task}': {file} not found", file);
        if (images.Select(i => i.Task).Distinct().Count() != images.Count) throw new ArgumentException("a task is given --images twice");
        var manifest = ManifestIO.Load(bundleDir);
        foreach (var (task, _) in images) TaskDecoder.FindTask(manifest, task);
        torch.set_num_threads(o.Threads > 0 ? o.Threads : Environment.ProcessorCount);

        var bt = BundleTable.Decode(bundleDir, pretrained, (done, total) => progress?.Invoke("decoding task vectors", done, total, double.NaN));
        var tasks = images.Select(i => i.Task).ToList();
        var index = tasks.Select(bt.TaskIndex).ToArray();
        var inputs = bt.Table.Select(t =>
        {
            var pre = new float[t.Length];
            pretrained.ReadFloat32(t.Name, pre);
            return new MergeInput(t.Name, t.Shape, pre, index.Select(i => t.Tau[i]).ToArray());
        }).ToList();
        var heads = tasks.Select(t => Head(bt, t, o.HeadPrefix)).ToList();

        var data = images.Select(i => IdxImages.Load(i.Images, o.Mean, o.Std, o.ImageLimit)).ToList();
        using var module = torch.jit.load<Tensor, Tensor>(modelPath);
        using var merger = new AdaMerger(module, module.call, inputs, heads, o.Granularity, o.Init) { LearningRate = o.LearningRate };
        var list = data.Select(d => tensor(d.Data, d.Shape)).ToList();
        using var owner = new DisposableList(list);
        var eval = list.Select(t => t.narrow(0, 0, Math.Min(t.shape[0], o.EvalImages))).ToList();

        double before = merger.Loss(eval);
        var rng = new Random(o.Seed);
        var order = list.Select(t => Shuffle(rng, (int)t.shape[0])).ToArray();
        var cursor = new int[list.Count];
        for (int step = 1; step <= o.Steps; step++)
        {
            using var scope = NewDisposeScope();
            var batches = new List<Tensor>(list.Count);
            for (int t = 0; t < list.Count; t++)
            {
                var idx = new long[o.BatchSize];
                for (int b = 0; b < idx.Length; b++)
                {
                    if (cursor[t] == order[t].Length) { order[t] = Shuffle(rng, order[t].Length); cursor[t] = 0; }
                    idx[b] = order[t][cursor[t]++];
                }
                batches.Add(list[t].index_select(0, tensor(idx)));
            }
            var (loss, grad) = merger.LossAndGradient(batches);
            merger.AdamStep(grad);
            progress?.Invoke("adamerging", step, o.Steps, loss);
        }
        double after = merger.Loss(eval);

        var coefficients = new Dictionary<string, double>();
        var perTensor = new Dictionary<string, IReadOnlyDictionary<string, double>>();
        for (int t = 0; t < tasks.Count; t++)
        {
            var c = merger.TensorNames.Select((_, l) => merger.Coefficient(t, l)).ToArray();
            coefficients[tasks[t]] = o.Granularity == Granularity.TaskWise ? c[0] : c.Average();
            if (o.Granularity == Granularity.LayerWise)
                perTensor[tasks[t]] = merger.TensorNames.Select((n, l) => (n, c[l])).ToDictionary(x => x.n, x => x.Item2);
        }
        var inv = CultureInfo.InvariantCulture;
        string source = string.Create(inv,
            $"adamerging {(o.Granularity == Granularity.LayerWise ? "layer-wise" : "task-wise")}, {o.Steps} steps, Adam lr {o.LearningRate:G3}, init {o.Init:G3}, " +
            $"batch {o.BatchSize}, entropy {before:F4} -> {after:F4} on {eval.Min(e => e.shape[0])} images per task, " +
            $"quantized task vectors of bundle {manifest.BundleId}");
        return new AdaMergingResult(tasks, coefficients, perTensor, source, before, after);
    }

    private static LinearHead Head(BundleTable bt, string task, string prefix)
    {
        var own = bt.Own[task];
        var w = own.FirstOrDefault(t => t.Name == prefix + ".weight");
        var b = own.FirstOrDefault(t => t.Name == prefix + ".bias");
        if (w is null || b is null || w.Shape.Length != 2 || b.Shape.Length != 1 || b.Shape[0] != w.Shape[0])
            throw new ArgumentException($"task '{task}' has no linear head '{prefix}.weight' [classes, features] and '{prefix}.bias' [classes] among its own tensors " +
                                        $"({(own.Count == 0 ? "it has none" : string.Join(", ", own.Select(t => t.Name)))}); pass --head-prefix");
        return new LinearHead(w.Values, b.Values, (int)w.Shape[0], (int)w.Shape[1]);
    }

    private static int[] Shuffle(Random rng, int n)
    {
        var a = Enumerable.Range(0, n).ToArray();
        rng.Shuffle(a);
        return a;
    }

    private sealed class DisposableList(List<Tensor> items) : IDisposable
    {
        public void Dispose() { foreach (var t in items) t.Dispose(); }
    }
}
