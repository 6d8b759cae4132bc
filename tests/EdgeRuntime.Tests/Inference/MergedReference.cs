using EdgeTvq.Checkpoints;
using EdgeTvq.Merging;

namespace EdgeTvq.Runtime.Tests.Inference;

/// <summary>
/// The files of fixtures/merged_reference.py (a small ViT exported to ONNX, two perturbed weight variants and the
/// PyTorch outputs for each), written once per script version into a temp folder by Debian's /usr/bin/python3.
/// </summary>
public sealed class MergedReference
{
    public const string ImageInput = "image";
    public const string FeaturesOutput = "features";
    public static readonly long[] BatchShape = [4, 1, 28, 28];

    public MergedReference()
    {
        string script = Path.Combine(AppContext.BaseDirectory, "fixtures", "merged_reference.py");
        Dir = EdgeTvq.TestSupport.PythonScript.RunCached(script, "done.txt", "edgetvq-merged-reference");
        using ICheckpoint reference = CheckpointReader.Open(PathOf("reference.safetensors"));
        float[] Read(string name) => reference.Find(name)?.ToFloat32Array() ?? throw new InvalidDataException($"reference.safetensors lacks '{name}'");
        Image = Read("image");
        Original = Read("original");
        VariantA = Read("variant_a");
        VariantB = Read("variant_b");
    }

    public string Dir { get; }

    /// <summary>The model with its weights inside.</summary>
    public string ModelPath => PathOf("model.onnx");

    /// <summary>The same model with every initializer in external/model.onnx.data.</summary>
    public string ExternalModelPath => PathOf("external/model.onnx");

    public float[] Image { get; }
    public float[] Original { get; }
    public float[] VariantA { get; }
    public float[] VariantB { get; }

    public string PathOf(string file) => Path.Combine(Dir, file);

    public string ModelFor(bool external) => external ? ExternalModelPath : ModelPath;

    /// <summary>A new weight set holding every tensor of the checkpoint (safetensors, or an ONNX model's initializers).</summary>
    public static WeightSet LoadWeights(string checkpointPath, Func<string, bool>? include = null)
    {
        var set = new WeightSet();
        try
        {
            using ICheckpoint checkpoint = CheckpointReader.Open(checkpointPath);
            foreach (CheckpointTensor t in checkpoint.Tensors.Where(t => include?.Invoke(t.Name) ?? true))
                t.ReadFloat32(set.Add(t.Name, t.Shape));
            return set;
        }
        catch
        {
            set.Dispose();
            throw;
        }
    }

    public WeightSet VariantAWeights() => LoadWeights(PathOf("variant_a.safetensors"));
    public WeightSet VariantBWeights() => LoadWeights(PathOf("variant_b.safetensors"));
    public WeightSet OriginalWeights() => LoadWeights(ModelPath);

    public static float MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(a.Length, b.Length);
        float max = 0;
        for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs(a[i] - b[i]));
        return max;
    }
}

/// <summary>A fresh empty folder under the temp directory, deleted on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "edgetvq-inference-tests", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

[CollectionDefinition(Name)]
public sealed class MergedReferenceCollection : ICollectionFixture<MergedReference>
{
    public const string Name = "Merged-weight inference reference (PyTorch)";
}
