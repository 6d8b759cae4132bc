using System.Buffers.Binary;
using System.Text.Json;
using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Format;
using EdgeTvq.Merging;
using EdgeTvq.Runtime.Inference;
using EdgeTvq.Runtime.Input;
using EdgeTvq.Runtime.Serving;
using EdgeTvq.TestSupport;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Packer;

/// <summary>
/// <c>edgetvq-pack tune</c> on the quick zoo's validation split: the λ it stores is the best of an exhaustive
/// evaluation of the grid, the default recipe reaches run, serve and info, and tune works in a folder that holds
/// nothing but the bundle, the encoder and the validation files it is given (no test image can be read).
/// </summary>
public class TuneCommandTests
{
    private static readonly string[] Tasks = ["mnist", "fashion_mnist", "quickdraw_01"];

    /// <summary>The first <paramref name="n"/> images of an idx3 file and of its labels file, written as a new pair.</summary>
    private static string Subset(string images, int n, string outImages)
    {
        byte[] img = File.ReadAllBytes(images), lab = File.ReadAllBytes(images.Replace(".images.idx", ".labels.idx"));
        int count = Math.Min(n, BinaryPrimitives.ReadInt32BigEndian(img.AsSpan(4)));
        int pixels = BinaryPrimitives.ReadInt32BigEndian(img.AsSpan(8)) * BinaryPrimitives.ReadInt32BigEndian(img.AsSpan(12));
        var head = img[..16];
        BinaryPrimitives.WriteInt32BigEndian(head.AsSpan(4), count);
        File.WriteAllBytes(outImages, [.. head, .. img.AsSpan(16, count * pixels)]);
        var lhead = lab[..8];
        BinaryPrimitives.WriteInt32BigEndian(lhead.AsSpan(4), count);
        File.WriteAllBytes(outImages.Replace(".images.idx", ".labels.idx"), [.. lhead, .. lab.AsSpan(8, count)]);
        return outImages;
    }

    private static (int Code, string Out) Capture(Func<int> main, string stdin = "")
    {
        lock (typeof(Console))
        {
            var (oldIn, oldOut) = (Console.In, Console.Out);
            var o = new StringWriter();
            Console.SetIn(new StringReader(stdin));
            Console.SetOut(o);
            try { return (main(), o.ToString()); }
            finally { Console.SetIn(oldIn); Console.SetOut(oldOut); }
        }
    }

    [Fact]
    public void Tune_stores_the_exhaustive_best_and_run_serve_and_info_use_it_reading_only_the_given_files()
    {
        var zoo = new ZooFixture();
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["work"]);
        // Pack 3 tasks of the zoo with labels and preprocessing.
        using (var pre = new CheckpointTensorSource(zoo.File_("pretrained_pt")))
        {
            var sources = zoo.Tasks.Where(t => Tasks.Contains(t.Name)).Select(t => (t.Name, Source: new CheckpointTensorSource(t.Pt), t.Labels)).ToList();
            try
            {
                var preprocessing = zoo.Manifest.GetProperty("preprocessing").GetRawText();
                BundlePacker.Pack(pre, sources.Select(s => new PackTask(s.Name, s.Source,
                    JsonDocument.Parse($"{{\"labels\": {JsonSerializer.Serialize(s.Labels)}, \"preprocessing\": {preprocessing}}}").RootElement)).ToList(),
                    new PackOptions { Scheme = Scheme.Tvq, Bits = 4 }, dir["work/bundle"]);
            }
            finally { foreach (var s in sources) s.Source.Dispose(); }
        }
        // The working folder: the bundle, a copy of the encoder and 150 validation images per task, nothing else.
        File.Copy(zoo.File_("encoder_onnx"), dir["work/encoder.onnx"]);
        var validation = new Dictionary<string, string>();
        foreach (var t in zoo.Manifest.GetProperty("tasks").EnumerateArray().Where(t => Tasks.Contains(t.GetProperty("name").GetString())))
        {
            string name = t.GetProperty("name").GetString()!;
            Assert.True(t.GetProperty("files").TryGetProperty("val_images", out var val), "the zoo has no validation split: rebuild it (bench/zoo/build.sh --quick)");
            Assert.NotEqual(t.GetProperty("files").GetProperty("test_images").GetString(), val.GetString());
            validation[name] = Subset(Path.Combine(zoo.Dir, val.GetString()!), 150, dir[$"work/{name}.val.images.idx"]);
        }
        Assert.Equal(1 + 2 * Tasks.Length, Directory.GetFiles(dir["work"]).Length); // the encoder and the validation pairs (the bundle is a folder)
        string bundle = dir["work/bundle"], model = dir["work/encoder.onnx"];

        var (code, output) = Capture(() => EdgeTvq.Packer.Program.Main(["tune", "--bundle", bundle, "--model", model, "--methods", "ta",
            .. validation.SelectMany(v => new[] { "--validation", $"{v.Key}={v.Value}" }), "--threads", "1"]));
        Assert.True(code == 0, output);
        Assert.Contains("task_arithmetic  λ=0.05", output); // the grid table
        var m = ManifestIO.Load(bundle);
        Assert.Equal("tuned", m.DefaultRecipe);
        Assert.Equal(["tuned-task_arithmetic", "tuned"], m.Recipes!.Keys);
        double chosen = m.Recipes["tuned"].Lambda!.Value;

        // Exhaustive evaluation of the grid on the same images, scored here (encoder + task head through the runtime).
        var images = validation.ToDictionary(v => v.Key, v => ImageFiles.Load(v.Value));
        var means = new List<(double Lambda, double Mean)>();
        using (var host = new ModelHost(bundle, model, new InferenceOptions { IntraOpThreads = 1 }))
            foreach (double lambda in Enumerable.Range(1, 20).Select(i => Math.Round(0.05 * i, 2)))
            {
                host.Switch(MergeRecipe.TaskArithmetic(Tasks, (float)lambda));
                using var lease = host.Acquire();
                means.Add((lambda, Tasks.Average(t =>
                {
                    var results = TaskRunner.Run(lease.Model, t, images[t], 1);
                    return results.Count(r => r.Top![0].Index == r.TrueLabel) / (double)results.Count;
                })));
            }
        var best = means.First(p => p.Mean == means.Max(q => q.Mean)); // ties: the smaller λ
        Assert.Equal(best.Lambda, chosen, 9);

        // run without a merge option uses the default; --individual stays the individual model.
        string[] run = ["run", "--bundle", bundle, "--model", model, "--allow-unsigned", "--task", "mnist", "--input", validation["mnist"], "--json"];
        var (runCode, runOut) = Capture(() => EdgeTvq.Runtime.Program.Main(run));
        Assert.True(runCode == 0, runOut);
        string expected = BundleRecipes.Resolve(m, "tuned").ToString();
        Assert.Equal(expected, JsonDocument.Parse(runOut).RootElement.GetProperty("recipe").GetString());
        var (_, individualOut) = Capture(() => EdgeTvq.Runtime.Program.Main([.. run, "--individual"]));
        Assert.Equal("individual mnist", JsonDocument.Parse(individualOut).RootElement.GetProperty("recipe").GetString());
        // serve starts on it; info names it.
        var (serveCode, serveOut) = Capture(() => EdgeTvq.Runtime.Program.Main(["serve", "--bundle", bundle, "--model", model, "--allow-unsigned", "--stdin"]), "quit\n");
        Assert.True(serveCode == 0, serveOut);
        Assert.Contains($"switched to {expected}:", serveOut);
        var (_, infoOut) = Capture(() => EdgeTvq.Runtime.Program.Main(["info", bundle]));
        Assert.Contains($"default recipe: tuned = {expected}", infoOut);
    }
}
