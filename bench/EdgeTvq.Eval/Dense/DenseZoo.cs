using System.Security.Cryptography;
using System.Text.Json;

namespace EdgeTvq.Eval.Dense;

/// <summary>One dense task of the zoo: its kind, fine-tuned checkpoint (encoder + head.*), ONNX head and PyTorch metrics.</summary>
public sealed record DenseTask(string Name, string Kind, string Checkpoint, string HeadOnnx, string[] Labels, JsonElement Metrics, JsonElement? BaselineMetrics);

/// <summary>A real photo with measured depth (0 = invalid), for the depth task outside the rendered rooms.</summary>
public sealed record RealDepth(string Name, string Image, string Depth);

/// <summary>
/// A NYUv2-style dense zoo folder (format "edgetvq-dense-zoo" 1): a dilated ResNet-18 encoder (output stride 8) as
/// encoder.onnx, the pretrained and per-task fine-tuned checkpoints, each task's head as ONNX, the test set as .npy
/// (images uint8 [N, H, W, 3] RGB; segmentation int16 [N, H, W], −1 ignore; depth float32 [N, H, W], 0 invalid;
/// normals float32 [N, H, W, 3], zero vector invalid) and real photos with depth. <see cref="Key"/> is the SHA-256 of
/// manifest.json, so cached cells never outlive their zoo.
/// </summary>
public sealed class DenseZoo
{
    public const string Format = "edgetvq-dense-zoo";

    public string Dir { get; }
    public string Name { get; }
    public string Key { get; }
    public string Size { get; }
    /// <summary>The zoo build's code version (manifest "code_version").</summary>
    public string CodeVersion { get; }
    public int Height { get; }
    public int Width { get; }
    public string PretrainedCheckpoint { get; }
    public string EncoderOnnx { get; }
    public JsonElement Preprocessing { get; }
    public IReadOnlyList<DenseTask> Tasks { get; }
    public string TestImages { get; }
    public string TestSegmentation { get; }
    public string TestDepth { get; }
    public string TestNormals { get; }
    public int TestCount { get; }
    public IReadOnlyList<RealDepth> Real { get; }

    private DenseZoo(string dir, JsonElement m, string key)
    {
        string P(JsonElement e) => Path.Combine(dir, e.GetString()!);
        Dir = dir;
        Name = Path.GetFileName(Path.TrimEndingDirectorySeparator(dir));
        Key = key;
        Size = m.GetProperty("options").GetProperty("size").GetString()!;
        CodeVersion = m.TryGetProperty("code_version", out var cv) ? cv.ToString() : "";
        Height = m.GetProperty("image").GetProperty("height").GetInt32();
        Width = m.GetProperty("image").GetProperty("width").GetInt32();
        var files = m.GetProperty("files");
        PretrainedCheckpoint = P(files.GetProperty("pretrained_pt"));
        EncoderOnnx = P(files.GetProperty("encoder_onnx"));
        Preprocessing = m.GetProperty("preprocessing").Clone();
        Tasks = m.GetProperty("tasks").EnumerateArray().Select(t => new DenseTask(
            t.GetProperty("name").GetString()!,
            t.GetProperty("kind").GetString()!,
            P(t.GetProperty("files").GetProperty("pt")),
            P(t.GetProperty("files").GetProperty("head_onnx")),
            t.TryGetProperty("label_names", out var l) ? l.EnumerateArray().Select(x => x.GetString()!).ToArray() : [],
            t.GetProperty("metrics").Clone(),
            t.TryGetProperty("baseline_metrics", out var b) ? b.Clone() : null)).ToList();
        var data = m.GetProperty("data");
        TestImages = P(data.GetProperty("test_images"));
        TestSegmentation = P(data.GetProperty("test_segmentation"));
        TestDepth = P(data.GetProperty("test_depth"));
        TestNormals = P(data.GetProperty("test_normals"));
        TestCount = data.GetProperty("test_count").GetInt32();
        Real = m.TryGetProperty("real_depth", out var real)
            ? real.EnumerateArray().Select(r => new RealDepth(r.GetProperty("name").GetString()!, P(r.GetProperty("image")), P(r.GetProperty("depth")))).ToList()
            : [];
        foreach (var kind in new[] { "segmentation", "depth", "normals" })
            if (Tasks.All(t => t.Kind != kind)) throw new InvalidDataException($"{dir}/manifest.json: no {kind} task; a dense zoo has segmentation, depth and normals");
    }

    public DenseTask Task(string kind) => Tasks.First(t => t.Kind == kind);

    public static DenseZoo Open(string dir)
    {
        dir = Path.GetFullPath(dir);
        string manifest = Path.Combine(dir, "manifest.json");
        if (!File.Exists(manifest)) throw new FileNotFoundException($"{manifest}: no dense zoo manifest; build it with ./build.sh zoo --dense --quick", manifest);
        byte[] bytes = File.ReadAllBytes(manifest);
        using var doc = JsonDocument.Parse(bytes);
        var m = doc.RootElement;
        if (!m.TryGetProperty("format", out var f) || f.GetString() != Format)
            throw new InvalidDataException($"{manifest}: not a dense zoo (\"format\" must be \"{Format}\")");
        if (!m.TryGetProperty("format_version", out var v) || v.GetInt32() != 1)
            throw new InvalidDataException($"{manifest}: dense zoo format version {(m.TryGetProperty("format_version", out var x) ? x.GetRawText() : "missing")}; this harness reads version 1");
        if (!m.TryGetProperty("complete", out var c) || !c.GetBoolean())
            throw new InvalidDataException($"{manifest}: the zoo build did not complete; rebuild it with ./build.sh zoo --dense --quick");
        return new DenseZoo(dir, m.Clone(), Convert.ToHexStringLower(SHA256.HashData(bytes))[..16]);
    }
}
