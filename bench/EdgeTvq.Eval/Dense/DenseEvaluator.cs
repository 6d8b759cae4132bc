using System.Diagnostics;
using System.Text.Json;
using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Runtime.Inference;
using EdgeTvq.Runtime.Input;
using EdgeTvq.Runtime.Output;
using EdgeTvq.Runtime.Serving;

namespace EdgeTvq.Eval.Dense;

/// <summary>The NYUv2 numbers of one model (or one per-task model per task) on the test set.</summary>
public sealed class DenseScores
{
    public double SegMeanIoU { get; set; } = double.NaN;
    public double SegPixelAccuracy { get; set; } = double.NaN;
    public double DepthAbs { get; set; } = double.NaN;
    public double DepthRel { get; set; } = double.NaN;
    public double NormalMean { get; set; } = double.NaN;
    public double NormalMedian { get; set; } = double.NaN;
    public double NormalBelow11 { get; set; } = double.NaN;
    public double NormalBelow22 { get; set; } = double.NaN;
    public double NormalBelow30 { get; set; } = double.NaN;
}

/// <summary>One (scheme, method) cell of the dense tables.</summary>
public sealed class DenseCell
{
    public string Key { get; set; } = "";
    public string Zoo { get; set; } = "";
    public string ZooKey { get; set; } = "";
    public string Scheme { get; set; } = "";
    public string SchemeLabel { get; set; } = "";
    public string Method { get; set; } = "";
    public string MethodLabel { get; set; } = "";
    public string MethodSettings { get; set; } = "";
    public int Images { get; set; }
    public DenseScores Scores { get; set; } = new();
    public PackStats Pack { get; set; } = new();
    /// <summary>Encoder passes over the test set: 1 for a multi-task model (three heads on one pass), 3 for per-task models.</summary>
    public int EncoderPasses { get; set; }
    public double Seconds { get; set; }
    public string FinishedUtc { get; set; } = "";
}

/// <summary>A packed scheme of the dense zoo: bundle folder, manifest, inspect statistics.</summary>
public sealed record DensePack(StorageScheme Scheme, string Dir, BundleManifest Manifest, PackStats Stats);

/// <summary>
/// Runs the dense zoo through the device path: each scheme's bundle holds every task's checkpoint (its head.* tensors
/// left out) with its head.onnx as its own blob and its kind/preprocessing as metadata; a method's recipe is merged by
/// the runtime's <see cref="ModelHost"/>, and <see cref="TaskRunner"/> runs the merged encoder once per batch and every
/// task's ONNX head on its features, upsampling (bilinear, corners aligned) to the image, arg-max for segmentation,
/// L2-normalised normals. The maps feed <see cref="SegmentationMetric"/>, <see cref="DepthMetric"/>, <see cref="NormalMetric"/>.
/// </summary>
public sealed class DenseEvaluator(DenseZoo zoo, string outDir, int threads = 0, int limit = int.MaxValue, int batch = DenseEvaluator.DefaultBatch,
    SessionMode mode = SessionMode.Embedded)
{
    public const int DefaultBatch = 16;

    private readonly string _packRoot = Path.Combine(outDir, "packs", $"{zoo.Name}-{zoo.Key[..8]}");
    private readonly InferenceOptions _inference = new() { IntraOpThreads = threads, Mode = mode };

    public DenseZoo Zoo => zoo;
    public int Images => Math.Min(limit, zoo.TestCount);
    public IReadOnlyList<string> TaskNames => zoo.Tasks.Select(t => t.Name).ToList();

    /// <summary>The scheme's bundle: packed now, or the one a previous run left (a bundle folder appears only complete).</summary>
    public DensePack PackScheme(StorageScheme scheme)
    {
        string dir = Path.Combine(_packRoot, scheme.Id);
        if (!File.Exists(Path.Combine(dir, "manifest.json")) || !Evaluator.SameOptions(ManifestIO.Load(dir), scheme))
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            Directory.CreateDirectory(_packRoot);
            using var pre = new CheckpointTensorSource(zoo.PretrainedCheckpoint);
            var sources = zoo.Tasks.Select(t => (Task: t, Source: new CheckpointTensorSource(t.Checkpoint))).ToList();
            try
            {
                var tasks = sources.Select(s => new PackTask(s.Task.Name, new WithoutHeadTensors(s.Source), Metadata(s.Task), "",
                    [new PackBlob(OwnBlobEntry.HeadOnnx, File.ReadAllBytes(s.Task.HeadOnnx), s.Task.HeadOnnx)])).ToList();
                BundlePacker.Pack(pre, tasks, scheme.Options, dir);
            }
            finally
            {
                foreach (var s in sources) s.Source.Dispose();
            }
        }
        return new DensePack(scheme, dir, ManifestIO.Load(dir), Evaluator.Stats(scheme, dir));
    }

    private JsonElement Metadata(DenseTask t)
    {
        string labels = t.Labels.Length > 0 ? $"\"labels\": {JsonSerializer.Serialize(t.Labels)}, " : "";
        return JsonDocument.Parse($"{{\"kind\": \"{t.Kind}\", {labels}\"preprocessing\": {zoo.Preprocessing.GetRawText()}}}").RootElement.Clone();
    }

    /// <summary>
    /// Merges <paramref name="method"/>'s recipe(s) from <paramref name="pack"/> on a <see cref="ModelHost"/> and hands
    /// each live model to <paramref name="use"/> with the tasks it serves: all of them for a multi-task method, its own
    /// task for each per-task model (Individual, EMR).
    /// </summary>
    public void ForEachModel(DensePack pack, MergingMethod method, Action<LiveModel, string[]> use)
    {
        var names = TaskNames;
        var context = new MergeContext(names, pack.Manifest) { Scheme = pack.Scheme, BundleDir = pack.Dir, OutDir = outDir };
        using var host = new ModelHost(pack.Dir, zoo.EncoderOnnx, _inference);
        if (method.Kind == MethodKind.MultiTask)
        {
            host.Switch(method.Recipe(context, null));
            using var lease = host.Acquire();
            use(lease.Model, names.ToArray());
            return;
        }
        foreach (var task in names)
        {
            host.Switch(method.Recipe(context, task));
            using var lease = host.Acquire();
            use(lease.Model, [task]);
        }
    }

    /// <summary>Evaluates one method on one pack over the first <see cref="Images"/> test images.</summary>
    public DenseCell Evaluate(DensePack pack, MergingMethod method, string key)
    {
        var clock = Stopwatch.StartNew();
        var seg = new SegmentationMetric(zoo.Task("segmentation").Labels.Length is > 0 and var n ? n : 13);
        var depth = new DepthMetric();
        var normals = new NormalMetric();
        int passes = 0;
        ForEachModel(pack, method, (model, tasks) =>
        {
            passes++;
            foreach (var b in DenseTestSet.Batches(zoo, Images, batch))
            {
                var results = TaskRunner.Run(model, tasks, b.Images, topK: 1, batchSize: batch);
                for (int k = 0; k < tasks.Length; k++)
                    for (int i = 0; i < b.Count; i++)
                    {
                        var map = results[k][i].Map!;
                        switch (zoo.Tasks.First(t => t.Name == tasks[k]).Kind)
                        {
                            case "segmentation": seg.Update(map.Classes!, b.Segmentation(i)); break;
                            case "depth": depth.Update(map.Values!, b.Depth(i)); break;
                            case "normals": normals.Update(map.Values!, b.Normals(i)); break;
                        }
                    }
            }
        });
        var (miou, pixAcc, _) = seg.Compute();
        var (abs, rel) = depth.Compute();
        var (mean, median, b11, b22, b30) = normals.Compute();
        return new DenseCell
        {
            Key = key, Zoo = zoo.Name, ZooKey = zoo.Key, Scheme = pack.Scheme.Id, SchemeLabel = pack.Scheme.Label,
            Method = method.Id, MethodLabel = method.Label, MethodSettings = method.Settings, Images = Images, Pack = pack.Stats, EncoderPasses = passes,
            Scores = new DenseScores
            {
                SegMeanIoU = miou, SegPixelAccuracy = pixAcc, DepthAbs = abs, DepthRel = rel,
                NormalMean = mean, NormalMedian = median, NormalBelow11 = b11, NormalBelow22 = b22, NormalBelow30 = b30,
            },
            Seconds = clock.Elapsed.TotalSeconds, FinishedUtc = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ"),
        };
    }

    /// <summary>Every task's maps for <paramref name="images"/> under one method of one pack: task name → one result per image.</summary>
    public Dictionary<string, List<TaskResult>> Predict(DensePack pack, MergingMethod method, IReadOnlyList<InputImage> images)
    {
        var maps = new Dictionary<string, List<TaskResult>>();
        ForEachModel(pack, method, (model, tasks) =>
        {
            var results = TaskRunner.Run(model, tasks, images, topK: 1, batchSize: batch);
            for (int k = 0; k < tasks.Length; k++) maps[tasks[k]] = results[k];
        });
        return maps;
    }
}

/// <summary>
/// A task checkpoint without its <c>head.*</c> tensors: the head travels as the task's head.onnx blob, and a
/// head.weight tensor beside it would make the runtime see two heads.
/// </summary>
public sealed class WithoutHeadTensors(ITensorSource inner) : ITensorSource
{
    public string Path => inner.Path;
    public IReadOnlyList<SourceTensor> Tensors { get; } = inner.Tensors.Where(t => !t.Name.StartsWith("head.", StringComparison.Ordinal)).ToList();
    public void ReadFloat32(string name, Span<float> destination) => inner.ReadFloat32(name, destination);
    public bool ReadsRanges => inner.ReadsRanges;
    public void ReadFloat32(string name, long start, Span<float> destination) => inner.ReadFloat32(name, start, destination);
}

/// <summary>A batch of the dense test set: the images as the runtime takes them and the targets in the metrics' layout.</summary>
public sealed class DenseBatch(int first, int count, int height, int width, IReadOnlyList<InputImage> images, int[] segmentation, float[] depth, float[] normals)
{
    public int First => first;
    public int Count => count;
    public IReadOnlyList<InputImage> Images => images;
    private int Plane => height * width;
    public ReadOnlySpan<int> Segmentation(int i) => segmentation.AsSpan(i * Plane, Plane);
    public ReadOnlySpan<float> Depth(int i) => depth.AsSpan(i * Plane, Plane);
    /// <summary>Image <paramref name="i"/>'s normals channel-first [3, H, W].</summary>
    public ReadOnlySpan<float> Normals(int i) => normals.AsSpan(3 * i * Plane, 3 * Plane);
}

/// <summary>Reads the zoo's test arrays one batch at a time (the whole set at full size would be gigabytes of floats).</summary>
public static class DenseTestSet
{
    public static IEnumerable<DenseBatch> Batches(DenseZoo zoo, int images, int batchSize)
    {
        for (int first = 0; first < images; first += batchSize)
        {
            int n = Math.Min(batchSize, images - first);
            var img = NpyFile.Read(zoo.TestImages, first, n);
            CheckShape(img, zoo.TestImages, n, zoo.Height, zoo.Width, 3);
            var seg = NpyFile.Read(zoo.TestSegmentation, first, n);
            CheckShape(seg, zoo.TestSegmentation, n, zoo.Height, zoo.Width);
            var depth = NpyFile.Read(zoo.TestDepth, first, n);
            CheckShape(depth, zoo.TestDepth, n, zoo.Height, zoo.Width);
            var normals = NpyFile.Read(zoo.TestNormals, first, n);
            CheckShape(normals, zoo.TestNormals, n, zoo.Height, zoo.Width, 3);
            yield return new DenseBatch(first, n, zoo.Height, zoo.Width, Images(img.Bytes!, first, n, zoo.Height, zoo.Width),
                seg.Ints!, depth.Floats!, ChannelFirst(normals.Floats!, n, zoo.Height * zoo.Width));
        }
    }

    /// <summary>Interleaved RGB images [n, H, W, 3] as runtime inputs named test#INDEX.</summary>
    public static List<InputImage> Images(byte[] pixels, int first, int n, int height, int width)
    {
        int size = height * width * 3;
        return Enumerable.Range(0, n).Select(i => new InputImage($"test#{first + i}", width, height, 3, pixels.AsSpan(i * size, size).ToArray(), null)).ToList();
    }

    /// <summary>[n, P, 3] → [n, 3, P]: the zoo stores normals per pixel, the metric and the runtime channel-first.</summary>
    public static float[] ChannelFirst(float[] interleaved, int n, int plane)
    {
        var dst = new float[interleaved.Length];
        for (int i = 0; i < n; i++)
            for (int p = 0; p < plane; p++)
                for (int c = 0; c < 3; c++)
                    dst[(i * 3 + c) * plane + p] = interleaved[(i * plane + p) * 3 + c];
        return dst;
    }

    public static void CheckShape(NpyArray a, string file, params int[] expected)
    {
        if (!a.Shape.SequenceEqual(expected))
            throw new InvalidDataException($"{file}: items of shape ({string.Join(", ", a.Shape)}), expected ({string.Join(", ", expected)}) as the zoo manifest's image size says");
        bool ok = file.EndsWith(".images.npy", StringComparison.Ordinal) || file.EndsWith(".image.npy", StringComparison.Ordinal) ? a.Bytes is not null
            : file.EndsWith(".segmentation.npy", StringComparison.Ordinal) ? a.Ints is not null : a.Floats is not null;
        if (!ok) throw new InvalidDataException($"{file}: dtype {a.Dtype} is not the dense zoo's (images uint8, segmentation int16, depth and normals float32)");
    }
}
