using System.Diagnostics;
using System.Text.Json;
using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Checkpoints.Safetensors;
using EdgeTvq.Format;
using EdgeTvq.Merging;

namespace EdgeTvq.Runtime.Tests.RgbZoo;

/// <summary>One task of the RGB zoo (bench/rgbzoo): a fine-tune of the ImageNet ResNet-18 with its head and metadata.</summary>
public sealed record RgbTask(string Name, string Kind, string Checkpoint, string? Head, string Metadata, string Encoder, string[] Images)
{
    /// <summary>The test images stored as PNG (decoded identically by Pillow and StbImageSharp).</summary>
    public string[] Pngs => Images.Where(i => i.EndsWith(".png", StringComparison.Ordinal)).ToArray();
}

/// <summary>
/// The RGB zoo (built by ./build.sh test into artifacts/zoo/rgb-quick; EDGETVQ_RGB_ZOO overrides): the real
/// ImageNet-pretrained ResNet-18 from NuGet, converted to PyTorch, fine-tuned on three classification tasks (one
/// linear head, two ONNX heads) and two dense ones (segmentation, depth), exported with BatchNorm unfused.
/// </summary>
public sealed class RgbZoo
{
    public string Dir { get; }
    public JsonElement Manifest { get; }
    public IReadOnlyList<RgbTask> Tasks { get; }
    public string EncoderOnnx => Path.Combine(Dir, "encoder.onnx");
    public string DenseEncoderOnnx => Path.Combine(Dir, "encoder_dense.onnx");
    public string PretrainedPt => Path.Combine(Dir, "pretrained.pt");
    public string ReferenceScript => Path.Combine(Aot.AotBinaries.RepoRoot, "bench", "rgbzoo", "torch_reference.py");

    public RgbZoo()
    {
        string? dir = Environment.GetEnvironmentVariable("EDGETVQ_RGB_ZOO");
        if (string.IsNullOrEmpty(dir)) dir = Path.Combine(Aot.AotBinaries.RepoRoot, "artifacts", "zoo", "rgb-quick");
        string manifest = Path.Combine(dir, "manifest.json");
        Assert.True(File.Exists(manifest), $"the RGB zoo is missing at {dir}: run bench/rgbzoo/build.sh (./build.sh test does this)");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(manifest));
        Manifest = doc.RootElement.Clone();
        Assert.True(Manifest.GetProperty("complete").GetBoolean(), $"{manifest} is from an interrupted build: run bench/rgbzoo/build.sh");
        Dir = dir;
        Tasks = Manifest.GetProperty("tasks").EnumerateArray().Select(t => new RgbTask(
            t.GetProperty("name").GetString()!,
            t.GetProperty("kind").GetString()!,
            Path.Combine(dir, t.GetProperty("checkpoint")[0].GetString()!),
            t.GetProperty("head").GetString() is "linear" ? null : Path.Combine(dir, t.GetProperty("head").GetString()!),
            Path.Combine(dir, t.GetProperty("metadata").GetString()!),
            Path.Combine(dir, t.GetProperty("encoder").GetString()!),
            t.GetProperty("tests").EnumerateArray().Select(f => f.GetString()!).Where(f => f.EndsWith(".png") || f.EndsWith(".jpg")).Select(f => Path.Combine(dir, f)).ToArray())).ToList();
    }

    public RgbTask Task(string name) => Tasks.Single(t => t.Name == name);

    public IEnumerable<RgbTask> Classification => Tasks.Where(t => t.Kind == "classification");
    public IEnumerable<RgbTask> Dense => Tasks.Where(t => t.Kind != "classification");

    /// <summary>Packs <paramref name="tasks"/> (each with its metadata and, when it has one, its ONNX head) against the pretrained checkpoint.</summary>
    public BundleManifest Pack(string outDir, PackOptions options, IEnumerable<RgbTask> tasks)
    {
        using var pre = new CheckpointTensorSource(PretrainedPt);
        var sources = tasks.Select(t => (Task: t, Source: new CheckpointTensorSource(t.Checkpoint))).ToList();
        try
        {
            var packTasks = sources.Select(s =>
            {
                var meta = JsonDocument.Parse(File.ReadAllBytes(s.Task.Metadata)).RootElement.Clone();
                PackBlob[]? blobs = s.Task.Head is { } head ? [new PackBlob(OwnBlobEntry.HeadOnnx, File.ReadAllBytes(head), head)] : null;
                return new PackTask(s.Task.Name, s.Source, meta, s.Task.Metadata, blobs);
            }).ToList();
            return BundlePacker.Pack(pre, packTasks, options, outDir);
        }
        finally
        {
            foreach (var s in sources) s.Source.Dispose();
        }
    }

    /// <summary>
    /// The weights <paramref name="recipe"/> merges from the bundle, written as safetensors for PyTorch, with
    /// <paramref name="task"/>'s own tensors (a linear head) beside them.
    /// </summary>
    public void WriteMerged(string bundle, MergeRecipe recipe, string task, string path)
    {
        var m = ManifestIO.Load(bundle);
        using var pre = new CheckpointTensorSource(EncoderOnnx);
        using var cache = new MergeCache(pre, m, keepBase: false);
        using var merged = BundleMerger.Merge(bundle, m, cache, recipe);
        var tensors = merged.Weights.Names.Select(n => (n, merged.Weights.ShapeOf(n), merged.Weights.Span(n).ToArray())).ToList();
        if (merged.OwnTensors.TryGetValue(task, out var own))
            tensors.AddRange(own.Names.Select(n => (n, own.ShapeOf(n), own.Span(n).ToArray())));
        SafetensorsWriter.WriteFloat32(path, tensors, new Dictionary<string, string>());
    }

    /// <summary>PyTorch's outputs for <paramref name="images"/> with the weights at <paramref name="weights"/> (torch_reference.py): by image name.</summary>
    public Dictionary<string, float[]> Reference(RgbTask task, string weights, IEnumerable<string> images, string outDir)
    {
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("EDGETVQ_PYTHON") ?? "/usr/bin/python3")
        { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(ReferenceScript);
        foreach (var a in new[] { "--encoder-weights", weights }) psi.ArgumentList.Add(a);
        if (task.Head is null) psi.ArgumentList.Add("--linear-head");
        else { psi.ArgumentList.Add("--head"); psi.ArgumentList.Add(task.Head); }
        foreach (var a in new[] { "--kind", task.Kind, "--preprocessing", "@" + task.Metadata, "--out", outDir, "--images" }) psi.ArgumentList.Add(a);
        var list = images.ToList();
        foreach (var i in list) psi.ArgumentList.Add(i);
        psi.Environment["RGBZOO_THREADS"] = "1";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(3)), "torch_reference.py timed out");
        Assert.True(p.ExitCode == 0, $"torch_reference.py failed:\n{stdout.Result}\n{stderr.Result}");
        string suffix = task.Kind == "classification" ? ".logits.npy" : ".out.npy";
        return list.ToDictionary(i => Path.GetFileNameWithoutExtension(i),
            i => EdgeTvq.Runtime.Output.NpyFile.Read(Path.Combine(outDir, Path.GetFileNameWithoutExtension(i) + suffix)).Floats!);
    }
}

/// <summary>
/// Not run in parallel with the other collections: its tests load several 64 MB ResNet-18 models at once, and the
/// HTTP load tests measure the process's working set while they run.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RgbZooCollection : ICollectionFixture<RgbZoo>
{
    public const string Name = "RGB zoo (ResNet-18)";
}
