using System.Text.Json.Serialization;
using EdgeTvq.Bundle;
using EdgeTvq.Runtime.Input;
using EdgeTvq.Runtime.Output;
using EdgeTvq.Runtime.Tasks;

namespace EdgeTvq.Runtime.Serving;

/// <summary>
/// A dense result at the image's size: a class per pixel (segmentation, [H, W]) or values per pixel
/// (depth [1, H, W], normals [3, H, W] unit vectors).
/// </summary>
public sealed class DenseMap
{
    public int Channels { get; init; }
    public int Height { get; init; }
    public int Width { get; init; }
    /// <summary>Segmentation: the arg-max class of each pixel, row-major.</summary>
    [JsonIgnore] public int[]? Classes { get; init; }
    /// <summary>Depth and normals: [C, H, W] row-major.</summary>
    [JsonIgnore] public float[]? Values { get; init; }
}

/// <summary>
/// One input's result: for classification its top-k classes (and its true label when the input file carried one);
/// for dense kinds the map at the image's size; for <c>tensor</c> the head's raw output.
/// </summary>
public sealed class TaskResult
{
    public string Input { get; init; } = "";
    public string Kind { get; init; } = "";
    public int? TrueLabel { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<ClassScore>? Top { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public DenseMap? Map { get; init; }
    /// <summary>The shape of <see cref="Raw"/> (tensor kind).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long[]? RawShape { get; init; }
    [JsonIgnore] public float[]? Raw { get; init; }
}

/// <summary>
/// The one path from inputs to a task's results, whichever way the inputs came (files, the stdin console, the HTTP
/// API): preprocess (<see cref="Preprocessor"/>) → encoder (ONNX Runtime, merged weights) → the task's head (linear
/// or ONNX graph) → what the task's kind makes of the head's output. The same inputs give the same bits every way.
/// </summary>
public static class TaskRunner
{
    public const int DefaultBatch = 64;

    /// <summary>Results for decoded images; consecutive images of one input size share a batch.</summary>
    public static List<TaskResult> Run(LiveModel model, string task, IReadOnlyList<InputImage> images, int topK, int batchSize = DefaultBatch) =>
        Run(model, [task], images, topK, batchSize)[0];

    /// <summary>
    /// Results of several tasks for the same images, one list per task in <paramref name="tasks"/>' order: each batch
    /// goes through the encoder once and every task's head runs on its features. The tasks must share their
    /// preprocessing (they see the same encoder input); a merged multi-task model then costs one encoder pass, not one
    /// per task.
    /// </summary>
    public static List<TaskResult>[] Run(LiveModel model, IReadOnlyList<string> tasks, IReadOnlyList<InputImage> images, int topK, int batchSize = DefaultBatch)
    {
        if (tasks.Count == 0) throw new ArgumentException("no task to run", nameof(tasks));
        var views = tasks.Select(t => ViewOf(model, t)).ToList();
        var spec = views[0].Preprocessing;
        foreach (var v in views.Skip(1))
            if (!SamePreprocessing(spec, v.Preprocessing))
                throw new ArgumentException($"tasks '{views[0].Name}' and '{v.Name}' preprocess their inputs differently, so they cannot share an encoder pass; run them apart");
        var prepared = images.Select(img => Preprocessor.Apply(spec, img, model.InputChannels)).ToList();
        var results = views.Select(_ => new List<TaskResult>(images.Count)).ToArray();
        for (int start = 0; start < prepared.Count;)
        {
            var first = prepared[start];
            int end = start + 1;
            while (end < prepared.Count && end - start < batchSize && prepared[end].Height == first.Height && prepared[end].Width == first.Width
                   && prepared[end].Channels == first.Channels)
                end++;
            int plane = first.Data.Length, m = end - start;
            var batch = new float[(long)plane * m];
            for (int i = start; i < end; i++) prepared[i].Data.CopyTo(batch, (long)(i - start) * plane);
            var features = Features(model, views[0], batch, [m, first.Channels, first.Height, first.Width]);
            for (int k = 0; k < views.Count; k++)
            {
                var output = views[k].Head!.Run(features);
                for (int i = start; i < end; i++)
                    results[k].Add(Finish(views[k], output, i - start, images[i].Source, images[i].Label, prepared[i].OutputHeight, prepared[i].OutputWidth, topK));
            }
            start = end;
        }
        return results;
    }

    /// <summary>Whether two preprocessing specs give the same encoder input (the record compares its arrays by reference).</summary>
    private static bool SamePreprocessing(PreprocessingSpec a, PreprocessingSpec b) =>
        a with { Mean = [], Std = [] } == b with { Mean = [], Std = [] } && a.Mean.AsSpan().SequenceEqual(b.Mean) && a.Std.AsSpan().SequenceEqual(b.Std);

    /// <summary>
    /// The head's output for preprocessed inputs of <paramref name="shape"/> [n, C, H, W] (row-major), run through the
    /// encoder in batches of <paramref name="batchSize"/>.
    /// </summary>
    public static FloatTensor Outputs(LiveModel model, string task, float[] inputs, long[] shape, int batchSize = DefaultBatch)
    {
        var view = ViewOf(model, task);
        if (shape.Length != 4 || shape.Aggregate(1L, (a, d) => a * d) != inputs.Length)
            throw new ArgumentException($"{inputs.Length} input values do not fill shape [{string.Join(", ", shape)}]");
        int n = (int)shape[0];
        long per = inputs.Length / Math.Max(n, 1);
        if (n <= batchSize) return HeadOutput(model, view, inputs, shape);
        var parts = new List<FloatTensor>();
        for (int start = 0; start < n; start += batchSize)
        {
            int m = Math.Min(batchSize, n - start);
            parts.Add(HeadOutput(model, view, inputs.AsSpan((int)(start * per), (int)(m * per)).ToArray(), [m, shape[1], shape[2], shape[3]]));
        }
        var all = new float[parts.Sum(p => p.Data.LongLength)];
        long at = 0;
        foreach (var p in parts) { p.Data.CopyTo(all, at); at += p.Data.LongLength; }
        return new FloatTensor(all, [n, .. parts[0].Shape[1..]]);
    }

    /// <summary>
    /// What the task's kind makes of item <paramref name="index"/> of the head's output, at <paramref name="height"/>×
    /// <paramref name="width"/> for dense kinds (bilinear, corners aligned, as the NYUv2 reference code upsamples).
    /// </summary>
    public static TaskResult Finish(TaskView view, FloatTensor output, int index, string source, int? label, int height, int width, int topK)
    {
        var s = output.Shape;
        long per = s.Length == 0 || s[0] == 0 ? 0 : output.Count / s[0];
        var item = output.Data.AsSpan((int)(index * per), (int)per);
        string kind = TaskKinds.Name(view.Kind);
        switch (view.Kind)
        {
            case TaskKind.Classification:
                if (s.Length < 2 || s.Skip(2).Any(d => d != 1))
                    throw Shape(view, output, "[n, classes]");
                return new TaskResult { Input = source, Kind = kind, TrueLabel = label, Top = Prediction.TopK(item, Math.Max(1, Math.Min(topK, item.Length)), view.Labels) };
            case TaskKind.Segmentation:
            case TaskKind.Depth:
            case TaskKind.Normals:
                {
                    int want = view.Kind switch { TaskKind.Depth => 1, TaskKind.Normals => 3, _ => 0 };
                    if (s.Length != 4 || (want > 0 && s[1] != want) || s[1] < 1)
                        throw Shape(view, output, view.Kind switch { TaskKind.Depth => "[n, 1, h, w]", TaskKind.Normals => "[n, 3, h, w]", _ => "[n, classes, h, w]" });
                    int c = (int)s[1], h = (int)s[2], w = (int)s[3];
                    var up = new float[(long)c * height * width];
                    DenseMaps.UpsampleBilinear(item, c, h, w, height, width, up);
                    if (view.Kind == TaskKind.Segmentation)
                    {
                        var classes = new int[height * width];
                        DenseMaps.ArgMax(up, c, height, width, classes);
                        return new TaskResult { Input = source, Kind = kind, Map = new DenseMap { Channels = 1, Height = height, Width = width, Classes = classes } };
                    }
                    if (view.Kind == TaskKind.Normals) DenseMaps.L2NormalizeChannels(up, c, height, width);
                    return new TaskResult { Input = source, Kind = kind, Map = new DenseMap { Channels = c, Height = height, Width = width, Values = up } };
                }
            default:
                return new TaskResult { Input = source, Kind = kind, TrueLabel = label, RawShape = s[1..], Raw = item.ToArray() };
        }
    }

    public static TaskView ViewOf(LiveModel model, string task)
    {
        if (!model.Tasks.TryGetValue(task, out var view))
            throw new ArgumentException($"task '{task}' is not part of the live model ({model.Recipe}); its tasks: {string.Join(", ", model.Tasks.Keys)}");
        if (view.Head is null)
            throw new InvalidDataException($"task '{task}' has no head in its bundle file (neither head.weight/head.bias nor head.onnx); pack it with its head (edgetvq-pack ... --head {task}=head.onnx)");
        return view;
    }

    private static FloatTensor HeadOutput(LiveModel model, TaskView view, float[] batch, long[] shape) => view.Head!.Run(Features(model, view, batch, shape));

    /// <summary>The encoder's output for a batch of <paramref name="view"/>'s preprocessed inputs, after checking them against its declared input.</summary>
    private static FloatTensor Features(LiveModel model, TaskView view, float[] batch, long[] shape)
    {
        var declared = model.InputShape;
        if (declared.Length == 4)
            for (int d = 1; d < 4; d++)
                if (declared[d] > 0 && declared[d] != shape[d])
                    throw new InvalidDataException($"task '{view.Name}': its preprocessing gives inputs [{string.Join(", ", shape[1..])}] but the encoder takes [{string.Join(", ", declared[1..].Select(x => x < 0 ? "any" : x.ToString()))}]; " +
                                                   "set \"resize\"/\"crop\"/\"channels\" in the task metadata to the encoder's input");
        return model.Encode(batch, shape);
    }

    private static InvalidDataException Shape(TaskView view, FloatTensor output, string expected) =>
        new($"task '{view.Name}' is a {TaskKinds.Name(view.Kind)} task, so its head must output {expected}; it gave {output.ShapeText}. Fix \"kind\" in the task metadata or the head");
}
