using System.Diagnostics;
using System.Text.Json;
using EdgeTvq.AdaMerging;
using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Format;
using EdgeTvq.Tests.Support;
using EdgeTvq.Tests.Zoo;
using EdgeTvq.TestSupport;

namespace EdgeTvq.Tests.AdaMerging;

/// <summary>The quick zoo packed as RTVQ B3O2 and its encoder exported by bench/adamerging/export_torchscript.py.</summary>
public sealed class AdaMergingZooFixture : IDisposable
{
    private readonly TempDir _dir = new();
    public ZooFixture Zoo { get; } = new();
    public string Bundle => _dir["bundle"];
    public string Model => _dir["encoder.ts"];
    public string Pretrained => Zoo.File_("pretrained_pt");
    public string TempFile(string name) => _dir[name];

    public AdaMergingZooFixture()
    {
        using var pre = new CheckpointTensorSource(Pretrained);
        var sources = Zoo.Tasks.Select(t => (t.Name, Source: new CheckpointTensorSource(t.Pt))).ToList();
        try
        {
            BundlePacker.Pack(pre, sources.Select(s => new PackTask(s.Name, s.Source)).ToList(),
                new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 }, Bundle);
        }
        finally
        {
            foreach (var s in sources) s.Source.Dispose();
        }
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "EdgeTvq.sln"))) d = d.Parent;
        Assert.NotNull(d);
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("EDGETVQ_PYTHON") ?? "/usr/bin/python3")
            { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(d!.FullName, "bench", "adamerging", "export_torchscript.py"), "--zoo", Zoo.Dir, "--out", Model }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var (stdout, stderr) = (p.StandardOutput.ReadToEndAsync(), p.StandardError.ReadToEndAsync());
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(3)), "export_torchscript.py did not finish");
        Assert.True(p.ExitCode == 0, $"export_torchscript.py failed: {stdout.Result}\n{stderr.Result}");
    }

    public IReadOnlyList<(string Task, string Images)> Images(int count) =>
        Zoo.Tasks.Take(count).Select(t => (t.Name, Zoo.TestImages(t.Name))).ToList();

    public void Dispose() => _dir.Dispose();
}

public class AdaMergingZooTests(AdaMergingZooFixture fx) : IClassFixture<AdaMergingZooFixture>
{
    [Fact]
    public void A_short_layer_wise_run_lowers_the_entropy_and_writes_a_valid_recipe()
    {
        using var pre = new CheckpointTensorSource(fx.Pretrained);
        var o = new AdaMergingOptions { Steps = 20, LearningRate = 1e-2, ImageLimit = 256, EvalImages = 64, Threads = 2 };
        var images = fx.Images(8);
        var result = AdaMergingRun.Run(fx.Bundle, pre, fx.Model, images, o);
        Assert.True(result.EntropyAfter < result.EntropyBefore, $"entropy {result.EntropyBefore} → {result.EntropyAfter}");

        string path = fx.TempFile("layer-wise.json");
        result.WriteRecipe(path);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var r = doc.RootElement;
        Assert.Equal("task_arithmetic", r.GetProperty("method").GetString());
        var tasks = r.GetProperty("tasks").EnumerateArray().Select(t => t.GetString()!).ToList();
        Assert.Equal(images.Select(i => i.Task), tasks);
        var table = ManifestIO.Load(fx.Bundle).Tensors.Where(e => e.Storage != "skipped").Select(e => e.Name).ToList();
        foreach (var t in tasks)
        {
            Assert.InRange(r.GetProperty("coefficients").GetProperty(t).GetDouble(), 0, 1);
            var perTensor = r.GetProperty("tensor_coefficients").GetProperty(t).EnumerateObject().ToList();
            Assert.Equal(table, perTensor.Select(p => p.Name));
            Assert.All(perTensor, p => Assert.InRange(p.Value.GetDouble(), 0, 1));
            Assert.Contains(perTensor, p => Math.Abs(p.Value.GetDouble() - 0.3) > 1e-3); // it moved
        }
        Assert.StartsWith("adamerging layer-wise, 20 steps", r.GetProperty("source").GetString());
    }

    [Fact]
    public void The_command_writes_a_task_wise_recipe()
    {
        string recipe = fx.TempFile("task-wise.json");
        var args = new List<string> { "adamerge", "--bundle", fx.Bundle, "--pretrained", fx.Pretrained, "--model", fx.Model, "--task-wise", "--steps", "3", "--out", recipe };
        foreach (var (task, images) in fx.Images(3)) args.AddRange(["--images", $"{task}={images}"]);
        Assert.Equal(0, EdgeTvq.Packer.Program.Main([.. args]));
        using var doc = JsonDocument.Parse(File.ReadAllBytes(recipe));
        var r = doc.RootElement;
        Assert.Equal(3, r.GetProperty("tasks").GetArrayLength());
        Assert.Empty(r.GetProperty("tensor_coefficients").EnumerateObject());
        foreach (var c in r.GetProperty("coefficients").EnumerateObject()) Assert.InRange(c.Value.GetDouble(), 0, 1);
        Assert.StartsWith("adamerging task-wise, 3 steps", r.GetProperty("source").GetString());

        // a task that is not in the bundle, and a model without the bundle's tensors, fail with exit code 2
        Assert.Equal(2, EdgeTvq.Packer.Program.Main(["adamerge", "--bundle", fx.Bundle, "--pretrained", fx.Pretrained, "--model", fx.Model,
            "--images", $"nope={fx.Images(1)[0].Images}", "--out", fx.TempFile("x.json")]));
        Assert.False(File.Exists(fx.TempFile("x.json")));
    }
}
