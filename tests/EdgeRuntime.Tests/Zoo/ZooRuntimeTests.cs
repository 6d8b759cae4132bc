using System.Text.Json;
using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Format;
using EdgeTvq.Runtime.Tests.Aot;
using EdgeTvq.TestSupport;

namespace EdgeTvq.Runtime.Tests.Zoo;

[CollectionDefinition(Name)]
public sealed class ZooBundleCollection : ICollectionFixture<ZooBundle>
{
    public const string Name = "quick zoo packed as RTVQ B3O2";
}

/// <summary>The quick zoo (built by ./build.sh test) packed once as RTVQ B3O2 with its labels and preprocessing.</summary>
public sealed class ZooBundle : IDisposable
{
    public ZooFixture Zoo { get; } = new();
    public string Dir { get; } = Path.Combine(Path.GetTempPath(), "edgetvq-zoo-bundle-" + Guid.NewGuid().ToString("N")[..10]);
    public string Bundle => Path.Combine(Dir, "bundle");
    public string Model => Zoo.File_("encoder_onnx");

    public ZooBundle()
    {
        Directory.CreateDirectory(Dir);
        using var pre = new CheckpointTensorSource(Zoo.File_("pretrained_pt"));
        var sources = Zoo.Tasks.Select(t => (t.Name, Source: new CheckpointTensorSource(t.Pt), t.Labels)).ToList();
        try
        {
            var preprocessing = Zoo.Manifest.GetProperty("preprocessing");
            var tasks = sources.Select(s =>
            {
                var meta = JsonDocument.Parse($"{{\"labels\": {JsonSerializer.Serialize(s.Labels)}, \"preprocessing\": {preprocessing.GetRawText()}}}").RootElement;
                return new PackTask(s.Name, s.Source, meta);
            }).ToList();
            BundlePacker.Pack(pre, tasks, new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 }, Bundle);
        }
        finally
        {
            foreach (var s in sources) s.Source.Dispose();
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}

/// <summary>`edgetvq run` classifies real zoo images: in-process, as the x64 native binary, and under qemu as the arm64 one.</summary>
[Collection(ZooBundleCollection.Name)]
public class ZooRuntimeTests(ZooBundle zb)
{
    private static (int Code, string Out, string Err) InProcess(params string[] args) => InProcessWithInput("", args);

    private static (int Code, string Out, string Err) InProcessWithInput(string stdin, params string[] args)
    {
        lock (typeof(Console))
        {
            var (oldIn, oldOut, oldErr) = (Console.In, Console.Out, Console.Error);
            var (o, e) = (new StringWriter(), new StringWriter());
            Console.SetIn(new StringReader(stdin));
            Console.SetOut(o);
            Console.SetError(e);
            try { return (EdgeTvq.Runtime.Program.Main(args), o.ToString(), e.ToString()); }
            finally { Console.SetIn(oldIn); Console.SetOut(oldOut); Console.SetError(oldErr); }
        }
    }

    private string[] RunArgs(string task, int limit, params string[] extra) =>
        ["run", "--bundle", zb.Bundle, "--model", zb.Model, "--task", task, "--input", zb.Zoo.TestImages(task), "--limit", limit.ToString(), "--json", .. extra];

    private static (double Accuracy, int[] Top1, double[] P1) Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var preds = doc.RootElement.GetProperty("predictions").EnumerateArray().ToList();
        return (doc.RootElement.GetProperty("accuracy").GetDouble(),
            preds.Select(p => p.GetProperty("top")[0].GetProperty("index").GetInt32()).ToArray(),
            preds.Select(p => p.GetProperty("top")[0].GetProperty("probability").GetDouble()).ToArray());
    }

    [Fact]
    public void Individual_models_classify_real_test_images_far_above_chance()
    {
        foreach (var (task, _, _, labels) in zb.Zoo.Tasks)
        {
            var (code, output, err) = InProcess(RunArgs(task, 200));
            Assert.True(code == 0, err);
            var (accuracy, _, _) = Parse(output);
            Assert.True(accuracy > 2.0 / labels.Length, $"{task}: accuracy {accuracy:P1} is not clearly above chance ({1.0 / labels.Length:P0})");
        }
    }

    [Fact]
    public void Task_arithmetic_and_both_session_modes_run_and_agree()
    {
        var task = zb.Zoo.Tasks.First().Name;
        var (c1, inputs, e1) = InProcess(RunArgs(task, 100, "--merge", "ta", "--mode", "inputs"));
        var (c2, embedded, e2) = InProcess(RunArgs(task, 100, "--merge", "ta", "--mode", "embedded"));
        Assert.True(c1 == 0, e1);
        Assert.True(c2 == 0, e2);
        var (a, topA, pA) = Parse(inputs);
        var (b, topB, pB) = Parse(embedded);
        Assert.Equal(topA, topB);
        Assert.True(pA.Zip(pB, (x, y) => Math.Abs(x - y)).Max() < 1e-4);
        Assert.Equal(a, b);
    }

    [Fact]
    public void Lines_merge_runs_on_the_device_path_and_differs_from_task_arithmetic()
    {
        var task = zb.Zoo.Tasks.First().Name;
        var (c1, lines, e1) = InProcess(RunArgs(task, 100, "--merge", "lines", "--beta", "0.5"));
        var (c2, ta, e2) = InProcess(RunArgs(task, 100, "--merge", "ta"));
        Assert.True(c1 == 0, e1);
        Assert.True(c2 == 0, e2);
        using var doc = JsonDocument.Parse(lines);
        Assert.StartsWith("LiNeS (", doc.RootElement.GetProperty("recipe").GetString());
        Assert.NotEqual(Parse(lines).P1, Parse(ta).P1);
    }

    [Fact]
    public void The_arm64_binary_under_qemu_predicts_exactly_what_the_x64_binary_predicts()
    {
        var task = zb.Zoo.Tasks.First().Name;
        string[] args = RunArgs(task, 64);
        var x64 = AotBinaries.Run("linux-x64", args);
        Assert.True(x64.ExitCode == 0, x64.Stderr);
        var arm = AotBinaries.RunWithTimeout("linux-arm64", TimeSpan.FromMinutes(5), args);
        Assert.True(arm.ExitCode == 0, arm.Stderr);
        var (accX, topX, pX) = Parse(x64.Stdout);
        var (accA, topA, pA) = Parse(arm.Stdout);
        Assert.Equal(topX, topA);
        Assert.Equal(accX, accA);
        Assert.True(pX.Zip(pA, (x, y) => Math.Abs(x - y)).Max() < 1e-4, "top-1 probabilities differ between x64 and arm64");
        Assert.True(accX > 0.5, $"accuracy {accX:P1}");
    }

    [Fact]
    public void Serve_switches_tasks_on_request_reports_the_time_and_keeps_serving_after_an_error()
    {
        var names = zb.Zoo.Tasks.Select(t => t.Name).ToList();
        string stdin = string.Join("\n",
            $"use individual {names[1]}",
            $"classify {names[1]} {zb.Zoo.TestImages(names[1])}",
            "use individual no-such-task",
            "use ta 0.3",
            $"classify {names[0]} {zb.Zoo.TestImages(names[0])}",
            "quit") + "\n";
        var (code, output, err) = InProcessWithInput(stdin, "serve", "--bundle", zb.Bundle, "--model", zb.Model, "--task", names[0]);
        Assert.True(code == 0, err);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith($"switched to individual {names[0]}: merge ", lines[0]);
        Assert.Contains(lines, l => l.StartsWith($"switched to individual {names[1]}: merge ") && l.Contains(" ms, total "));
        Assert.Contains(lines, l => l.StartsWith("error: ") && l.Contains("no-such-task") && l.Contains($"still serving individual {names[1]}"));
        Assert.Contains(lines, l => l.StartsWith("switched to task arithmetic"));
        var answers = lines.Where(l => l.StartsWith("{")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.True(answers.Count > 10);
        Assert.All(answers, a => Assert.Equal(3, a.GetProperty("top").GetArrayLength()));
    }

    [Fact]
    public void A_png_with_dark_ink_on_white_is_classified_like_the_same_idx_image()
    {
        var task = zb.Zoo.Tasks.First().Name;
        string png = Path.Combine(zb.Dir, $"{task}-7.png");
        var psi = new System.Diagnostics.ProcessStartInfo(Environment.GetEnvironmentVariable("EDGETVQ_PYTHON") ?? "/usr/bin/python3") { UseShellExecute = false };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "fixtures", "idx_to_png.py"), zb.Zoo.TestImages(task), "7", png }) psi.ArgumentList.Add(arg);
        using (var p = System.Diagnostics.Process.Start(psi)!) { p.WaitForExit(); Assert.Equal(0, p.ExitCode); }

        var (c1, fromPng, e1) = InProcess("run", "--bundle", zb.Bundle, "--model", zb.Model, "--task", task, "--input", png, "--json");
        var (c2, fromIdx, e2) = InProcess("run", "--bundle", zb.Bundle, "--model", zb.Model, "--task", task, "--input", zb.Zoo.TestImages(task), "--limit", "8", "--json");
        Assert.True(c1 == 0, e1);
        Assert.True(c2 == 0, e2);
        using var a = JsonDocument.Parse(fromPng);
        using var b = JsonDocument.Parse(fromIdx);
        var pngTop = a.RootElement.GetProperty("predictions")[0].GetProperty("top")[0];
        var idxTop = b.RootElement.GetProperty("predictions")[7].GetProperty("top")[0];
        Assert.Equal(idxTop.GetProperty("index").GetInt32(), pngTop.GetProperty("index").GetInt32());
        Assert.Equal(idxTop.GetProperty("label").GetString(), pngTop.GetProperty("label").GetString());
        Assert.True(Math.Abs(idxTop.GetProperty("probability").GetDouble() - pngTop.GetProperty("probability").GetDouble()) < 1e-5);
    }

    [Fact]
    public void A_damaged_bundle_is_refused_by_the_cli_and_nothing_is_served()
    {
        string copy = Path.Combine(zb.Dir, "damaged");
        Directory.CreateDirectory(copy);
        foreach (var f in Directory.EnumerateFiles(zb.Bundle)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        var task = zb.Zoo.Tasks.First().Name;
        var bytes = File.ReadAllBytes(Path.Combine(copy, task + ".tvqt"));
        bytes[bytes.Length / 2] ^= 0x01;
        File.WriteAllBytes(Path.Combine(copy, task + ".tvqt"), bytes);
        var (code, output, err) = InProcess(["run", "--bundle", copy, "--model", zb.Model, "--task", task, "--input", zb.Zoo.TestImages(task), "--limit", "4", "--json"]);
        Assert.Equal(1, code);
        Assert.Contains(task + ".tvqt", err);
        Assert.Equal("", output);
    }
}
