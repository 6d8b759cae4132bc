using EdgeTvq.Bundle;
using EdgeTvq.Format;

namespace EdgeTvq.Fuzz.Seeds;

/// <summary>An in-memory float32 checkpoint, the packer's input for seed bundles.</summary>
public sealed class SeedModel(string path, Dictionary<string, (long[] Shape, float[] Values)> tensors) : ITensorSource
{
    public Dictionary<string, (long[] Shape, float[] Values)> Data { get; } = tensors;
    public string Path => path;
    public IReadOnlyList<SourceTensor> Tensors => Data.Select(kv => new SourceTensor(kv.Key, kv.Value.Shape, "F32", true)).ToList();
    public void ReadFloat32(string name, Span<float> destination) => Data[name].Values.CopyTo(destination);

    /// <summary>A tiny transformer-like model and <paramref name="tasks"/> fine-tunes with a classification head each.</summary>
    public static (SeedModel Pre, List<SeedModel> Tasks) Small(int tasks, int seed)
    {
        var rng = new Random(seed);
        (string, long[])[] shapes =
        [
            ("blocks.0.attn.qkv.weight", [12, 4]), ("blocks.0.attn.qkv.bias", [12]), ("blocks.0.norm1.weight", [4]),
            ("blocks.1.mlp.fc2.weight", [4, 8]), ("empty", [0, 3]), ("pos_embed", [1, 3, 4]), ("scalar", []),
        ];
        var pre = new Dictionary<string, (long[], float[])>();
        foreach (var (n, s) in shapes)
            pre[n] = (s, Enumerable.Range(0, (int)s.Aggregate(1L, (a, b) => a * b)).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray());
        var list = new List<SeedModel>();
        for (int t = 0; t < tasks; t++)
        {
            var ft = new Dictionary<string, (long[], float[])>();
            foreach (var (n, (s, v)) in pre)
                ft[n] = (s, v.Select(x => x + (float)(rng.NextDouble() - 0.5) * 0.02f).ToArray());
            ft["blocks.0.norm1.weight"] = pre["blocks.0.norm1.weight"]; // an unchanged tensor: a constant record
            ft["head.weight"] = ([2, 4], Enumerable.Range(0, 8).Select(_ => (float)rng.NextDouble()).ToArray());
            ft["head.bias"] = ([2], [0.1f * t, -0.2f]);
            list.Add(new SeedModel($"task{t}.pt", ft));
        }
        return (new SeedModel("pretrained.pt", pre), list);
    }
}

/// <summary>Small bundles packed by <see cref="BundlePacker"/>: the seeds of the manifest, bundle and recipe targets.</summary>
public static class SeedBundles
{
    public static readonly (string Name, PackOptions Options)[] Kinds =
    [
        ("tvq4", new PackOptions { Scheme = Scheme.Tvq, Bits = 4 }),
        ("rtvq-b3o2", new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 }),
        ("fq8-ref", new PackOptions { Scheme = Scheme.Fq, Bits = 8, Mode = Quantization.QuantMode.Reference }),
        // Format version 4: grouped records (kind 7), affine per 16 elements and per row, and BitDelta's signs.
        ("tvq2-g16", new PackOptions { Scheme = Scheme.Tvq, Bits = 2, Group = new GroupSpec(16) }),
        ("rtvq-b3o2-row", new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2, Group = GroupSpec.Row }),
        ("bitdelta", new PackOptions { Scheme = Scheme.Tvq, Bits = 1, Signs = true, Group = GroupSpec.Row }),
    ];

    /// <summary>Packs every kind under <paramref name="dir"/>/&lt;name&gt;; returns the bundle folders in <see cref="Kinds"/> order.</summary>
    public static List<string> Build(string dir)
    {
        var (pre, tasks) = SeedModel.Small(2, 7);
        var meta = System.Text.Json.JsonDocument.Parse("""{"task": "t0", "labels": ["zero", "one"], "preprocessing": {"size": 28}, "note": "seed"}""").RootElement;
        var list = new List<string>();
        foreach (var (name, options) in Kinds)
        {
            string outDir = Path.Combine(dir, name);
            if (!File.Exists(Path.Combine(outDir, FormatConstants.ManifestFileName)))
            {
                if (Directory.Exists(outDir)) Directory.Delete(outDir, true);
                BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s, i == 0 ? meta : null)).ToList(), options, outDir);
            }
            list.Add(outDir);
        }
        return list;
    }

    public static SeedModel Pretrained() => SeedModel.Small(2, 7).Pre;

    /// <summary>Copies the files of bundle folder <paramref name="from"/> into <paramref name="to"/> (emptied first).</summary>
    public static void CopyBundle(string from, string to)
    {
        if (Directory.Exists(to)) Directory.Delete(to, true);
        Directory.CreateDirectory(to);
        foreach (var f in Directory.EnumerateFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
    }
}
