using EdgeTvq.Bundle;

namespace EdgeTvq.Tests.Support;

/// <summary>An in-memory checkpoint for tests.</summary>
public sealed class MemorySource(string path, Dictionary<string, (long[] Shape, float[] Values)> tensors) : ITensorSource
{
    public Dictionary<string, (long[] Shape, float[] Values)> Data { get; } = tensors;
    public string Path => path;
    public IReadOnlyList<SourceTensor> Tensors => Data.Select(kv => new SourceTensor(kv.Key, kv.Value.Shape, "F32", true)).ToList();
    public void ReadFloat32(string name, Span<float> destination) => Data[name].Values.CopyTo(destination);

    /// <summary>A small transformer-like model: pretrained weights and T fine-tunes that move a little.</summary>
    public static (MemorySource Pre, List<MemorySource> Tasks) SmallModel(int tasks, int seed, bool withHead = true, float taskScale = 0.02f)
    {
        var rng = new Random(seed);
        var shapes = new (string, long[])[]
        {
            ("blocks.0.attn.qkv.weight", [24, 8]), ("blocks.0.attn.qkv.bias", [24]),
            ("blocks.0.mlp.fc1.weight", [16, 8]), ("blocks.0.mlp.fc1.bias", [16]),
            ("blocks.0.norm1.weight", [8]), ("blocks.1.mlp.fc2.weight", [8, 16]),
            ("patch_embed.proj.weight", [8, 1, 3, 3]), ("pos_embed", [1, 5, 8]), ("norm.bias", [8]),
        };
        var pre = new Dictionary<string, (long[], float[])>();
        foreach (var (n, s) in shapes)
            pre[n] = (s, Enumerable.Range(0, (int)s.Aggregate(1L, (a, b) => a * b)).Select(_ => Gauss(rng)).ToArray());
        var list = new List<MemorySource>();
        var shared = pre.ToDictionary(kv => kv.Key, kv => kv.Value.Item2.Select(_ => Gauss(rng) * taskScale).ToArray());
        for (int t = 0; t < tasks; t++)
        {
            var ft = new Dictionary<string, (long[], float[])>();
            foreach (var (n, (s, v)) in pre)
                ft[n] = (s, v.Select((x, i) => x + shared[n][i] + Gauss(rng) * taskScale).ToArray());
            if (withHead)
            {
                ft["head.weight"] = ([3, 8], Enumerable.Range(0, 24).Select(_ => Gauss(rng)).ToArray());
                ft["head.bias"] = ([3], [0.1f * t, -0.2f, 0.3f]);
            }
            list.Add(new MemorySource($"task{t}.pt", ft));
        }
        return (new MemorySource("pretrained.pt", pre), list);
    }

    public static float Gauss(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
    }
}

/// <summary>A fresh temporary folder, deleted on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "edgetvq-test-" + Guid.NewGuid().ToString("N")[..12]);
    public TempDir() => Directory.CreateDirectory(Path);
    public string this[string name] => System.IO.Path.Combine(Path, name);
    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
