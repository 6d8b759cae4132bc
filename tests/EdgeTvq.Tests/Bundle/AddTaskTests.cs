using EdgeTvq.Bundle;
using EdgeTvq.Format;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Bundle;

public class AddTaskTests
{
    private static Dictionary<string, (long Length, DateTime Written, byte[] Bytes)> Snapshot(string dir) =>
        Directory.EnumerateFiles(dir).ToDictionary(f => Path.GetFileName(f), f => (new FileInfo(f).Length, File.GetLastWriteTimeUtc(f), File.ReadAllBytes(f)));

    [Theory]
    [InlineData("tvq")]
    [InlineData("rtvq")]
    [InlineData("fq")]
    public void Add_task_writes_exactly_one_new_file_and_updates_only_the_manifest(string scheme)
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(4, seed: 21);
        var o = scheme == "rtvq" ? new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 }
                                 : new PackOptions { Scheme = PackOptions.ParseScheme(scheme), Bits = 4 };
        BundlePacker.Pack(pre, tasks.Take(3).Select((s, i) => new PackTask($"t{i}", s)).ToList(), o, dir["b"]);
        var before = Snapshot(dir["b"]);

        var entry = BundlePacker.AddTask(dir["b"], pre, new PackTask("late", tasks[3]));

        var after = Snapshot(dir["b"]);
        Assert.Equal(before.Keys.Append("late.tvqt").Order(), after.Keys.Order());
        foreach (var (name, b) in before)
            if (name != "manifest.json") Assert.True(b.Bytes.AsSpan().SequenceEqual(after[name].Bytes), $"{name} changed");
        Assert.Equal(entry.Bytes, after["late.tvqt"].Length);
        var verify = BundleVerifier.Verify(dir["b"]);
        Assert.True(verify.Ok, string.Join("\n", verify.Problems));
        var m = ManifestIO.Load(dir["b"]);
        Assert.Equal(["t0", "t1", "t2", "late"], m.Tasks.Select(t => t.Name));

        // The new task decodes to a close approximation of its true task vector.
        var got = new Dictionary<string, float[]>();
        TaskDecoder.Decode(dir["b"], m, m.Tasks[3], scheme == "fq" ? pre : null, DecodeTarget.TaskVector, d => got[d.Name] = d.Values);
        var fc1 = "blocks.0.mlp.fc1.weight";
        var tau = tasks[3].Data[fc1].Values.Zip(pre.Data[fc1].Values, (a, b) => a - b).ToArray();
        double err = Math.Sqrt(tau.Zip(got[fc1], (a, b) => (double)(a - b) * (a - b)).Sum() / tau.Length);
        double rms = Math.Sqrt(tau.Sum(v => (double)v * v) / tau.Length);
        if (scheme == "fq")
        {
            // FQ quantizes θ_t itself: its error is bounded by half a step of the weights' range, not of τ's.
            var ft = tasks[3].Data[fc1].Values;
            double halfStep = (ft.Max() - ft.Min()) / 15.0 / 2;
            Assert.True(tau.Zip(got[fc1], (a, b) => Math.Abs(a - b)).Max() <= halfStep * 1.001, $"max error above half a step {halfStep}");
        }
        else Assert.True(err < 0.5 * rms, $"error {err} vs rms {rms}");
    }

    [Fact]
    public void Add_task_refuses_a_different_pretrained_model()
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(2, seed: 1);
        var (otherPre, otherTasks) = MemorySource.SmallModel(1, seed: 2);
        BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), new PackOptions { Bits = 4 }, dir["b"]);
        var e = Assert.Throws<BundleFormatException>(() => BundlePacker.AddTask(dir["b"], otherPre, new PackTask("x", otherTasks[0])));
        Assert.Contains("not the pretrained model this bundle was made against", e.Message);
        Assert.False(File.Exists(dir["b/x.tvqt"]));
    }

    [Fact]
    public void Add_task_refuses_an_existing_name()
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(2, seed: 1);
        BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), new PackOptions { Bits = 4 }, dir["b"]);
        Assert.Throws<ArgumentException>(() => BundlePacker.AddTask(dir["b"], pre, new PackTask("t1", tasks[0])));
    }

    [Fact]
    public void A_task_file_made_for_another_base_is_refused_with_a_message_that_says_so()
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(2, seed: 1);
        var (otherPre, otherTasks) = MemorySource.SmallModel(2, seed: 2);
        var o = new PackOptions { Bits = 4 };
        BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), o, dir["a"]);
        BundlePacker.Pack(otherPre, otherTasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), o, dir["b"]);
        File.Copy(dir["b/t1.tvqt"], dir["a/t1.tvqt"], overwrite: true);
        var result = BundleVerifier.Verify(dir["a"]);
        Assert.False(result.Ok);
        Assert.Contains(result.Problems, p => p.Contains("t1.tvqt") && p.Contains("another pretrained model"));
    }

    [Fact]
    public void A_task_file_from_another_bundle_of_the_same_base_is_refused()
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(2, seed: 1);
        var o = new PackOptions { Bits = 4 };
        BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), o, dir["a"]);
        BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), o, dir["b"]);
        File.Copy(dir["b/t0.tvqt"], dir["a/t0.tvqt"], overwrite: true);
        var result = BundleVerifier.Verify(dir["a"]);
        Assert.Contains(result.Problems, p => p.Contains("t0.tvqt") && p.Contains("belongs to bundle"));
    }
}
