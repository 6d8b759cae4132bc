using System.Text.Json;
using Xunit;

namespace EdgeTvq.Checkpoints.Tests;

/// <summary>One tensor as PyTorch/ONNX reported it (from reference.json written by make_checkpoints.py).</summary>
public sealed record ExpectedTensor(string Name, TensorDType DType, long[] Shape, byte[] Raw, byte[]? Float32);

/// <summary>
/// Runs fixtures/make_checkpoints.py once with Debian's /usr/bin/python3 (torch + onnx) into a temp folder
/// keyed by the script's hash, so later test runs reuse the files. Override the interpreter with EDGETVQ_PYTHON.
/// </summary>
public sealed class PythonCheckpoints
{
    public PythonCheckpoints()
    {
        string script = Path.Combine(AppContext.BaseDirectory, "fixtures", "make_checkpoints.py");
        Dir = EdgeTvq.TestSupport.PythonScript.RunCached(script, "reference.json", "edgetvq-checkpoint-fixtures");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Dir, "reference.json")));
        foreach (JsonProperty file in doc.RootElement.EnumerateObject())
        {
            Reference[file.Name] = file.Value.EnumerateArray().Select(e => new ExpectedTensor(
                e.GetProperty("name").GetString()!,
                Enum.Parse<TensorDType>(e.GetProperty("dtype").GetString()!, ignoreCase: true),
                e.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray(),
                Convert.FromBase64String(e.GetProperty("raw").GetString()!),
                e.TryGetProperty("f32", out JsonElement f) ? Convert.FromBase64String(f.GetString()!) : null)).ToList();
        }
    }

    public string Dir { get; }

    public Dictionary<string, List<ExpectedTensor>> Reference { get; } = [];

    public string PathOf(string file) => Path.Combine(Dir, file);
}

[CollectionDefinition(Name)]
public sealed class PythonCheckpointsCollection : ICollectionFixture<PythonCheckpoints>
{
    public const string Name = "Python-written checkpoints";
}
