using System.Security.Cryptography;
using System.Text.Json;

namespace EdgeTvq.Eval;

/// <summary>One task of a zoo: its fine-tuned checkpoint, exported test set and (zoos built since issue 16) validation set.</summary>
public sealed record ZooTask(string Name, string Checkpoint, string TestImages, string[] Labels, double FinetunedAccuracyExported)
{
    /// <summary>The validation images (idx3; labels beside them), disjoint from train and test; null in older zoos.</summary>
    public string? ValImages { get; init; }
}

/// <summary>
/// A model zoo folder (bench/zoo/README.md): pretrained checkpoint, encoder.onnx, per-task fine-tuned checkpoints and
/// idx test sets, all named by manifest.json. <see cref="Key"/> is the SHA-256 of manifest.json, which changes with
/// every rebuild (it records the code version, options and creation time), so cached results never outlive their zoo.
/// </summary>
public sealed class Zoo
{
    public string Dir { get; }
    public string Name { get; }
    public string Key { get; }
    public string Size { get; }
    public string PretrainedCheckpoint { get; }
    public string EncoderOnnx { get; }
    public JsonElement Preprocessing { get; }
    public IReadOnlyList<ZooTask> Tasks { get; }

    private Zoo(string dir, JsonElement m, string key)
    {
        Dir = dir;
        Name = Path.GetFileName(Path.TrimEndingDirectorySeparator(dir));
        Key = key;
        Size = m.GetProperty("options").GetProperty("size").GetString()!;
        var files = m.GetProperty("files");
        PretrainedCheckpoint = Path.Combine(dir, files.GetProperty("pretrained_pt").GetString()!);
        EncoderOnnx = Path.Combine(dir, files.GetProperty("encoder_onnx").GetString()!);
        Preprocessing = m.GetProperty("preprocessing").Clone();
        Tasks = m.GetProperty("tasks").EnumerateArray().Select(t => new ZooTask(
            t.GetProperty("name").GetString()!,
            Path.Combine(dir, t.GetProperty("files").GetProperty("pt").GetString()!),
            Path.Combine(dir, t.GetProperty("files").GetProperty("test_images").GetString()!),
            t.GetProperty("label_names").EnumerateArray().Select(l => l.GetString()!).ToArray(),
            t.GetProperty("accuracy").GetProperty("finetuned_exported_test").GetDouble())
        {
            ValImages = t.GetProperty("files").TryGetProperty("val_images", out var val) ? Path.Combine(dir, val.GetString()!) : null,
        }).ToList();
    }

    /// <summary>
    /// The zoo restricted to its first <paramref name="count"/> tasks, named &lt;size&gt;-&lt;count&gt;tasks. The zoo
    /// builder's task sets are nested and each task's model does not depend on the task count (bench/zoo/README.md),
    /// so the first 8 tasks of a 20-task zoo are that size's 8-task zoo without building it again.
    /// </summary>
    public Zoo FirstTasks(int count)
    {
        if (count < 1 || count > Tasks.Count) throw new ArgumentException($"--tasks {count}: the zoo {Dir} has {Tasks.Count} tasks");
        if (count == Tasks.Count) return this;
        return new Zoo(this, $"{Size}-{count}tasks", Tasks.Take(count).ToList());
    }

    private Zoo(Zoo whole, string name, IReadOnlyList<ZooTask> tasks)
    {
        (Dir, Name, Size, PretrainedCheckpoint, EncoderOnnx, Preprocessing) = (whole.Dir, name, whole.Size, whole.PretrainedCheckpoint, whole.EncoderOnnx, whole.Preprocessing);
        Key = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"{whole.Key} first {tasks.Count}")))[..16];
        Tasks = tasks;
        IsSubset = true;
    }

    /// <summary>Whether this is <see cref="FirstTasks"/> of a larger zoo (the folder holds more tasks than <see cref="Tasks"/>).</summary>
    public bool IsSubset { get; }

    public static Zoo Open(string dir)
    {
        dir = Path.GetFullPath(dir);
        string manifest = Path.Combine(dir, "manifest.json");
        if (!File.Exists(manifest)) throw new FileNotFoundException($"{manifest}: no zoo manifest; build the zoo with ./build.sh zoo (bench/zoo/README.md)", manifest);
        byte[] bytes = File.ReadAllBytes(manifest);
        using var doc = JsonDocument.Parse(bytes);
        var m = doc.RootElement;
        if (!m.TryGetProperty("complete", out var c) || !c.GetBoolean())
            throw new InvalidDataException($"{manifest}: the zoo build did not complete; rebuild it with ./build.sh zoo");
        return new Zoo(dir, m.Clone(), Convert.ToHexStringLower(SHA256.HashData(bytes))[..16]);
    }
}
