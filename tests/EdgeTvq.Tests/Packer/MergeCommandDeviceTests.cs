using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Merging;
using EdgeTvq.Tests.Merging;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Packer;

/// <summary>
/// <c>edgetvq-pack merge</c> (offline: every task decoded into memory, then Tsv per tensor) and the device path
/// (<see cref="BundleMerger"/> streaming, the same Tsv per-tensor functions) write the same weights, bit for bit.
/// </summary>
public class MergeCommandDeviceTests
{
    private static readonly string[] Tasks = ["t0", "t1", "t2", "t3"];

    [Theory]
    [InlineData("tvq4")]
    [InlineData("rtvq")]
    [InlineData("fq")]
    public void Pack_merge_writes_the_weights_the_device_path_merges(string scheme)
    {
        using var dir = new TempDir();
        var pre = StreamingMergeTests.Bundle(scheme, dir["b"]);
        var m = ManifestIO.Load(dir["b"]);
        SafetensorsWriter.WriteFloat32(dir["pre.safetensors"], pre.Data.Select(kv => (kv.Key, kv.Value.Shape, kv.Value.Values)));

        Assert.Equal(0, EdgeTvq.Packer.Program.Main(["merge", "--bundle", dir["b"], "--pretrained", dir["pre.safetensors"],
            "--method", "tsv_merge", "--alpha", "0.7", "--out", dir["m.safetensors"]]));
        Assert.Equal(0, EdgeTvq.Packer.Program.Main(["merge", "--bundle", dir["b"], "--pretrained", dir["pre.safetensors"],
            "--method", "tsv_compress", "--task", "t2", "--out", dir["c.safetensors"]]));

        using (var merged = BundleMerger.Merge(dir["b"], m, pre, MergeRecipe.Of(MergeMethod.TsvMerge, Tasks) with { Lambda = 0.7f }))
            AssertSameWeights(dir["m.safetensors"], merged, null);
        using (var compressed = BundleMerger.Merge(dir["b"], m, pre, MergeRecipe.Of(MergeMethod.TsvCompress, Tasks, "t2")))
            AssertSameWeights(dir["c.safetensors"], compressed, "t2");
    }

    /// <summary>Every tensor of the device's merge (and, for a per-task model, the task's own tensors) equals the file's, bit for bit; nothing else is in the file.</summary>
    private static void AssertSameWeights(string file, MergeResult device, string? task)
    {
        using var offline = CheckpointReader.Open(file);
        var expected = device.Weights.Names.Select(n => (n, device.Weights.Span(n).ToArray())).ToList();
        if (task is not null)
        {
            var own = device.OwnTensors[task];
            Assert.NotEmpty(own.Names); // the small model's head
            expected.AddRange(own.Names.Select(n => (n, own.Span(n).ToArray())));
        }
        Assert.Equal(expected.Select(e => e.n).Order(), offline.Tensors.Select(t => t.Name).Order());
        foreach (var (name, values) in expected)
        {
            var got = offline.Find(name)!.ToFloat32Array();
            Assert.Equal(values.Length, got.Length);
            for (int i = 0; i < got.Length; i++)
                if (BitConverter.SingleToInt32Bits(values[i]) != BitConverter.SingleToInt32Bits(got[i]))
                    Assert.Fail($"{Path.GetFileName(file)}: {name}[{i}] device {values[i]:R}, edgetvq-pack merge {got[i]:R}");
        }
    }
}
