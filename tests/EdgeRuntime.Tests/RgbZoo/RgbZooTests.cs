using System.Text.Json;
using EdgeTvq.Bundle;
using EdgeTvq.Format;
using EdgeTvq.Merging;
using EdgeTvq.Runtime.Inference;
using EdgeTvq.Runtime.Input;
using EdgeTvq.Runtime.Output;
using EdgeTvq.Runtime.Serving;
using EdgeTvq.Runtime.Tests.Aot;
using Microsoft.ML.OnnxRuntime;
using Xunit.Abstractions;

namespace EdgeTvq.Runtime.Tests.RgbZoo;

/// <summary>
/// A real RGB network end to end: the ImageNet ResNet-18 of Microsoft.ML.DnnImageFeaturizer.ResNet18 fine-tuned in
/// PyTorch, packed with linear and ONNX heads, merged and run by edgetvq, against PyTorch running the same merged weights.
/// </summary>
[Collection(RgbZooCollection.Name)]
public sealed class RgbZooTests(RgbZoo zoo, ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("edgetvq-rgb-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static (int Code, string Out, string Err) Edgetvq(params string[] args)
    {
        lock (typeof(Console))
        {
            var (oldOut, oldErr) = (Console.Out, Console.Error);
            var (o, e) = (new StringWriter(), new StringWriter());
            Console.SetOut(o);
            Console.SetError(e);
            try { return (EdgeTvq.Runtime.Program.Main(args), o.ToString(), e.ToString()); }
            finally { Console.SetOut(oldOut); Console.SetError(oldErr); }
        }
    }

    private static float MaxDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        float worst = 0;
        for (int i = 0; i < a.Length; i++) worst = Math.Max(worst, Math.Abs(a[i] - b[i]));
        return worst;
    }

    [Fact]
    public void The_network_converted_to_pytorch_computes_what_the_original_onnx_computes_on_real_photos()
    {
        var check = zoo.Manifest.GetProperty("check");
        string original = Path.Combine(AotBinaries.RepoRoot, zoo.Manifest.GetProperty("model").GetProperty("original_onnx").GetString()!);
        Assert.True(File.Exists(original), $"{original} is missing: bench/rgbzoo/fetch_resnet18.sh restores it from NuGet");
        var input = NpyFile.Read(Path.Combine(zoo.Dir, check.GetProperty("input").GetString()!));
        var features = NpyFile.Read(Path.Combine(zoo.Dir, check.GetProperty("features").GetString()!));
        int n = input.Shape[0], per = input.Floats!.Length / n;
        Assert.True(n >= 3, "at least three photos");
        using var session = new InferenceSession(original);
        using var run = new RunOptions();
        string inputName = session.InputNames.Single(), outputName = session.OutputNames.Single();
        for (int i = 0; i < n; i++)
        {
            using var value = OrtValue.CreateTensorValueFromMemory(input.Floats.AsSpan(i * per, per).ToArray(), [1, 3, input.Shape[2], input.Shape[3]]);
            using var outputs = session.Run(run, [inputName], [value], [outputName]);
            var got = outputs[0].GetTensorDataAsSpan<float>().ToArray();
            float diff = MaxDiff(features.Floats!.AsSpan(i * 512, 512).ToArray(), got);
            log.WriteLine($"photo {i}: max |torch − original ONNX| = {diff:E2}");
            Assert.True(diff <= 1e-4f, $"photo {i}: the converted network differs from the original by {diff}");
        }
    }

    [Fact]
    public void The_bundle_covers_batchnorm_running_statistics_and_skips_integer_buffers()
    {
        var m = zoo.Pack(Path.Combine(_dir, "b"), new PackOptions { Scheme = Scheme.Tvq, Bits = 4 }, zoo.Classification.Take(1));
        var byName = m.Tensors.ToDictionary(t => t.Name);
        Assert.Contains(m.Tensors, t => t.Name.EndsWith("running_var", StringComparison.Ordinal) && t.Storage != "skipped");
        Assert.Contains(m.Tensors, t => t.Name.EndsWith("running_mean", StringComparison.Ordinal) && t.Storage != "skipped");
        var counters = m.Tensors.Where(t => t.Name.EndsWith("num_batches_tracked", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(counters);
        Assert.All(counters, t => Assert.Equal("skipped", t.Storage));

        // Fine-tuning moved the running statistics, so the task vector has them: its decoded τ̂ is not zero there.
        var got = new Dictionary<string, float[]>();
        TaskDecoder.Decode(Path.Combine(_dir, "b"), m, m.Tasks[0], null, DecodeTarget.TaskVector, d => got[d.Name] = d.Values);
        Assert.Contains(got, kv => kv.Key.EndsWith("running_mean", StringComparison.Ordinal) && kv.Value.Any(v => v != 0));
    }

    public static TheoryData<string> Schemes => new() { "fp32", "tvq4", "tvq2", "fq8", "rtvq-b3o2" };

    private static PackOptions Options(string scheme) => scheme switch
    {
        "fp32" => new PackOptions { Scheme = Scheme.Tvq, Bits = 8, Policy = TensorPolicy.Parse("none") },
        "tvq4" => new PackOptions { Scheme = Scheme.Tvq, Bits = 4 },
        "tvq2" => new PackOptions { Scheme = Scheme.Tvq, Bits = 2 },
        "fq8" => new PackOptions { Scheme = Scheme.Fq, Bits = 8 },
        _ => new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 },
    };

    [Theory]
    [MemberData(nameof(Schemes))]
    public void Every_scheme_classifies_as_pytorch_does_with_the_same_merged_weights(string scheme)
    {
        string bundle = Path.Combine(_dir, "b");
        var tasks = zoo.Classification.ToList();
        zoo.Pack(bundle, Options(scheme), tasks);
        var recipe = MergeRecipe.TaskArithmetic(tasks.Select(t => t.Name));
        using var host = new ModelHost(bundle, zoo.EncoderOnnx, new InferenceOptions { IntraOpThreads = 1 });
        host.Switch(recipe);
        using var lease = host.Acquire();
        foreach (var task in tasks)
        {
            string weights = Path.Combine(_dir, task.Name + ".safetensors");
            zoo.WriteMerged(bundle, recipe, task.Name, weights);
            var pngs = task.Pngs.Take(4).ToList();
            var reference = zoo.Reference(task, weights, pngs, Path.Combine(_dir, "ref-" + task.Name));
            var images = pngs.Select(p => Assert.Single(ImageFiles.Load(p))).ToList();
            var view = lease.Model.Tasks[task.Name];
            Assert.Equal(task.Head is null ? "linear" : "onnx", view.Head!.Type);
            for (int i = 0; i < images.Count; i++)
            {
                var x = Preprocessor.Apply(view.Preprocessing, images[i], lease.Model.InputChannels);
                var logits = TaskRunner.Outputs(lease.Model, task.Name, x.Data, [1, x.Channels, x.Height, x.Width]).Data;
                var expected = reference[Path.GetFileNameWithoutExtension(pngs[i])];
                float diff = MaxDiff(expected, logits), scale = Math.Max(1f, expected.Max(Math.Abs));
                log.WriteLine($"{scheme} {task.Name} {Path.GetFileName(pngs[i])}: max |edgetvq − torch| = {diff:E2} (logits up to {scale:F1})");
                Assert.True(diff <= 1e-4f * scale, $"{scheme} {task.Name} {pngs[i]}: logits differ from PyTorch by {diff}");
            }
        }
    }

    [Fact]
    public void Classification_through_the_cli_is_far_above_chance_and_writes_one_json_per_image()
    {
        string bundle = Path.Combine(_dir, "b");
        zoo.Pack(bundle, Options("rtvq-b3o2"), zoo.Classification);
        foreach (var task in zoo.Classification)
        {
            string outDir = Path.Combine(_dir, "out-" + task.Name);
            var (code, stdout, stderr) = Edgetvq(["run", "--bundle", bundle, "--model", zoo.EncoderOnnx, "--allow-unsigned", "--task", task.Name,
                "--input", .. task.Images, "--output", outDir, "--json", "--top", "1"]);
            Assert.True(code == 0, stderr + stdout);
            using var doc = JsonDocument.Parse(stdout);
            Assert.Equal(task.Head is null ? "linear" : "onnx", doc.RootElement.GetProperty("head").GetString());
            var labels = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Path.GetDirectoryName(task.Images[0])!, "labels.json"))).RootElement;
            var predictions = doc.RootElement.GetProperty("predictions").EnumerateArray().ToList();
            int correct = predictions.Count(p => p.GetProperty("top")[0].GetProperty("index").GetInt32() == labels.GetProperty(Path.GetFileName(p.GetProperty("input").GetString()!)).GetInt32());
            double accuracy = correct / (double)predictions.Count, chance = 1.0 / zoo.Manifest.GetProperty("tasks").EnumerateArray().First(t => t.GetProperty("name").GetString() == task.Name).GetProperty("labels").GetArrayLength();
            log.WriteLine($"{task.Name}: individual RTVQ B3O2 accuracy {accuracy:P1} on {predictions.Count} images (chance {chance:P1})");
            Assert.True(accuracy >= 3 * chance, $"{task.Name}: accuracy {accuracy:P1}, chance {chance:P1}");
            Assert.Equal(task.Images.Length, Directory.GetFiles(outDir, "*.json").Length);
        }
    }

    [Fact]
    public void Dense_heads_end_to_end_match_pytorch_and_write_npy_and_png_maps_at_the_image_size()
    {
        string bundle = Path.Combine(_dir, "b");
        // The two dense tasks merged (task arithmetic of all five at λ = 0.3 drives some BatchNorm running variances
        // below zero, so PyTorch and ONNX Runtime both give NaN there: docs/runtime.md, "BatchNorm statistics").
        zoo.Pack(bundle, Options("tvq4"), zoo.Dense);
        var recipe = MergeRecipe.TaskArithmetic(zoo.Dense.Select(t => t.Name));
        foreach (var task in zoo.Dense)
        {
            string weights = Path.Combine(_dir, task.Name + ".safetensors");
            zoo.WriteMerged(bundle, recipe, task.Name, weights);
            var pngs = task.Pngs.Take(3).ToArray();
            var reference = zoo.Reference(task, weights, pngs, Path.Combine(_dir, "ref-" + task.Name));
            string outDir = Path.Combine(_dir, "out-" + task.Name);
            var (code, stdout, stderr) = Edgetvq(["run", "--bundle", bundle, "--model", task.Encoder, "--allow-unsigned", "--task", task.Name,
                "--merge", "ta", "--input", .. pngs, "--output", outDir]);
            Assert.True(code == 0, stderr + stdout);
            foreach (var png in pngs)
            {
                string name = Path.GetFileNameWithoutExtension(png);
                var expected = reference[name];
                var image = Assert.Single(ImageFiles.Load(png));
                if (task.Kind == "segmentation")
                {
                    var map = NpyFile.Read(Path.Combine(outDir, name + ".seg.npy"));
                    var prepared = Preprocessor.Apply(PreprocessingSpec.Parse(JsonDocument.Parse(File.ReadAllBytes(task.Metadata)).RootElement.GetProperty("preprocessing")), image);
                    Assert.Equal([prepared.OutputHeight, prepared.OutputWidth], map.Shape);
                    int classes = expected.Length / map.Ints!.Length, plane = map.Ints.Length, disagree = 0, clear = 0;
                    for (int p = 0; p < plane; p++)
                    {
                        int best = 0;
                        for (int c = 1; c < classes; c++) if (expected[c * plane + p] > expected[best * plane + p]) best = c;
                        float second = float.NegativeInfinity;
                        for (int c = 0; c < classes; c++) if (c != best) second = Math.Max(second, expected[c * plane + p]);
                        if (expected[best * plane + p] - second < 1e-3f) continue; // a near tie: either class is right
                        clear++;
                        if (map.Ints[p] != best) disagree++;
                    }
                    log.WriteLine($"{task.Name} {name}: {disagree} of {clear} clear pixels differ from PyTorch's arg-max");
                    Assert.Equal(0, disagree);
                    Assert.True(File.Exists(Path.Combine(outDir, name + ".seg.png")));
                }
                else
                {
                    var map = NpyFile.Read(Path.Combine(outDir, name + ".depth.npy"));
                    Assert.Equal(2, map.Shape.Length);
                    float diff = MaxDiff(expected, map.Floats!), scale = Math.Max(1f, expected.Max(Math.Abs));
                    log.WriteLine($"{task.Name} {name}: max |edgetvq − torch| = {diff:E2} over {map.Shape[0]}×{map.Shape[1]} (values up to {scale:F1})");
                    Assert.True(diff <= 1e-4f * scale, $"{task.Name} {name}: depth differs from PyTorch by {diff}");
                    var png2 = StbImageSharp.ImageResult.FromMemory(File.ReadAllBytes(Path.Combine(outDir, name + ".depth.png")), StbImageSharp.ColorComponents.RedGreenBlue);
                    Assert.Equal((map.Shape[1], map.Shape[0]), (png2.Width, png2.Height));
                }
            }
        }
    }

    [Fact]
    public async Task The_service_answers_dense_and_onnx_head_requests_as_run_does()
    {
        string bundle = Path.Combine(_dir, "b");
        var seg = zoo.Dense.First(t => t.Kind == "segmentation");
        var depth = zoo.Dense.First(t => t.Kind == "depth");
        zoo.Pack(bundle, Options("tvq4"), [seg, depth]);
        string png = depth.Pngs[0];
        var (code, stdout, stderr) = Edgetvq("run", "--bundle", bundle, "--model", zoo.DenseEncoderOnnx, "--allow-unsigned", "--task", depth.Name,
            "--merge", "ta", "--input", png, "--output", Path.Combine(_dir, "run"));
        Assert.True(code == 0, stderr + stdout);
        var expected = NpyFile.Read(Path.Combine(_dir, "run", Path.GetFileNameWithoutExtension(png) + ".depth.npy"));

        using var host = new ModelHost(bundle, zoo.DenseEncoderOnnx, new InferenceOptions());
        host.Switch(MergeRecipe.TaskArithmetic([seg.Name, depth.Name]));
        string socket = Path.Combine(_dir, "api.sock");
        await using var service = await EdgeTvq.Runtime.Http.HttpService.StartAsync(host, bundle, new EdgeTvq.Runtime.Http.ServeSettings { Listen = ["unix:" + socket] });
        using var client = EdgeTvq.Runtime.Tests.Http.Served.UnixClient(socket);
        var content = new ByteArrayContent(File.ReadAllBytes(png));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("image/png");
        using var response = await client.PostAsync($"/v2/models/{depth.Name}/infer", content);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        using var doc = JsonDocument.Parse(body);
        var output = doc.RootElement.GetProperty("outputs")[0];
        Assert.Equal("depth", output.GetProperty("name").GetString());
        Assert.Equal([1, expected.Shape[0], expected.Shape[1]], output.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ToArray());
        var values = output.GetProperty("data").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        Assert.Equal(expected.Floats!, values); // the same path as run: equal bit for bit

        using var meta = JsonDocument.Parse(await client.GetStringAsync($"/v2/models/{seg.Name}"));
        Assert.Equal("segmentation", meta.RootElement.GetProperty("outputs")[0].GetProperty("name").GetString());
        Assert.Equal([-1, 3, 128, 128], meta.RootElement.GetProperty("inputs")[0].GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ToArray());
    }

    [Fact]
    public void The_head_cache_shares_a_held_head_and_closes_only_the_least_recently_used_idle_ones()
    {
        var withHeads = zoo.Tasks.Where(t => t.Head is not null).Take(2).ToList();
        byte[] a = File.ReadAllBytes(withHeads[0].Head!), b = File.ReadAllBytes(withHeads[1].Head!);
        using var cache = new EdgeTvq.Runtime.Tasks.HeadCache(intraOpThreads: 1, maxIdle: 1);
        var a1 = cache.Acquire("a", a);
        Assert.Same(a1, cache.Acquire("a", a)); // held twice, one session
        var b1 = cache.Acquire("b", b);
        cache.Release(b1);
        Assert.Equal((2, 1), (cache.Count, cache.IdleCount));
        cache.Release(a1);
        Assert.Equal((2, 1), (cache.Count, cache.IdleCount)); // a is still held once
        cache.Release(a1);
        Assert.Equal((1, 1), (cache.Count, cache.IdleCount)); // two idle, one allowed: b, the older, is closed
        Assert.Same(a1, cache.Acquire("a", a));
        Assert.Throws<InvalidOperationException>(() => cache.Release(b1)); // closed: no longer held
        Assert.NotSame(b1, cache.Acquire("b", b));

        using var none = new EdgeTvq.Runtime.Tasks.HeadCache(intraOpThreads: 1, maxIdle: 0);
        var held = none.Acquire("a", a);
        none.Release(none.Acquire("b", b));
        Assert.Equal((1, 0), (none.Count, none.IdleCount)); // a held head is never closed
        Assert.Same(held, none.Acquire("a", a));
    }

    [Fact]
    public void Switching_recipes_reuses_the_heads_and_a_retired_model_hands_its_heads_back()
    {
        string bundle = Path.Combine(_dir, "b");
        var seg = zoo.Dense.First(t => t.Kind == "segmentation");
        var depth = zoo.Dense.First(t => t.Kind == "depth");
        zoo.Pack(bundle, Options("tvq4"), [seg, depth]);
        using var host = new ModelHost(bundle, zoo.DenseEncoderOnnx, new InferenceOptions());
        host.Switch(MergeRecipe.TaskArithmetic([seg.Name, depth.Name]));
        EdgeTvq.Runtime.Tasks.ITaskHead? depthHead;
        using (var lease = host.Acquire()) depthHead = lease.Model.Tasks[depth.Name].Head;
        Assert.Equal((2, 0), (host.Heads.Count, host.Heads.IdleCount));

        host.Switch(MergeRecipe.TaskArithmetic([seg.Name])); // the old model retires at once (no request holds it)
        Assert.Equal((2, 1), (host.Heads.Count, host.Heads.IdleCount)); // depth's head is idle, still open

        LiveModel busy;
        var inFlight = host.Acquire(); // a request on the seg-only model
        busy = inFlight.Model;
        host.Switch(MergeRecipe.TaskArithmetic([seg.Name, depth.Name], lambda: 0.5f));
        using (var lease = host.Acquire()) Assert.Same(depthHead, lease.Model.Tasks[depth.Name].Head); // no new head session
        Assert.Equal((2, 0), (host.Heads.Count, host.Heads.IdleCount));
        Assert.False(busy.Retired.IsCompleted);
        inFlight.Dispose();
        Assert.True(busy.Retired.IsCompleted);
        Assert.Equal((2, 0), (host.Heads.Count, host.Heads.IdleCount)); // seg's head: held by the current model
    }

    [Fact]
    public void A_head_graph_that_onnx_runtime_cannot_load_is_refused_naming_the_task()
    {
        string bundle = Path.Combine(_dir, "b");
        var task = zoo.Classification.First(t => t.Head is not null);
        using (var pre = new EdgeTvq.Checkpoints.CheckpointTensorSource(zoo.PretrainedPt))
        using (var src = new EdgeTvq.Checkpoints.CheckpointTensorSource(task.Checkpoint))
        {
            var meta = JsonDocument.Parse(File.ReadAllBytes(task.Metadata)).RootElement.Clone();
            // The library packs any bytes (the CLI's --head refuses them): the device must still refuse them cleanly.
            BundlePacker.Pack(pre, [new PackTask(task.Name, src, meta, Blobs: [new PackBlob(OwnBlobEntry.HeadOnnx, "not an onnx model"u8.ToArray(), "x")])],
                new PackOptions { Bits = 4 }, bundle);
        }
        var (code, stdout, stderr) = Edgetvq("run", "--bundle", bundle, "--model", zoo.EncoderOnnx, "--allow-unsigned", "--task", task.Name, "--input", task.Pngs[0]);
        Assert.NotEqual(0, code);
        Assert.Contains(task.Name, stderr + stdout);
        Assert.Contains("head.onnx", stderr + stdout);
    }

    public static TheoryData<string> Arm64 => new() { "linux-arm64" };

    [Theory]
    [MemberData(nameof(Arm64))]
    public void The_arm64_binary_under_qemu_writes_the_same_outputs_as_the_x64_binary(string arm64)
    {
        string bundle = Path.Combine(_dir, "b");
        var cls = zoo.Classification.First(t => t.Head is not null);
        var dense = zoo.Dense.First(t => t.Kind == "depth");
        zoo.Pack(bundle, Options("rtvq-b3o2"), [cls, dense]);
        foreach (var (task, model) in new[] { (cls, zoo.EncoderOnnx), (dense, zoo.DenseEncoderOnnx) })
        {
            var outputs = new Dictionary<string, string>();
            foreach (var rid in new[] { "linux-x64", arm64 })
            {
                string outDir = Path.Combine(_dir, $"{rid}-{task.Name}");
                var (code, stdout, stderr) = AotBinaries.Run(rid, "run", "--bundle", bundle, "--model", model, "--allow-unsigned", "--task", task.Name,
                    "--merge", "ta", "--input", task.Pngs[0], "--output", outDir, "--threads", "1");
                Assert.True(code == 0, $"{rid}: {stderr}{stdout}");
                outputs[rid] = outDir;
            }
            foreach (var file in Directory.GetFiles(outputs["linux-x64"]).Select(Path.GetFileName))
            {
                var x64 = File.ReadAllBytes(Path.Combine(outputs["linux-x64"], file!));
                var arm = File.ReadAllBytes(Path.Combine(outputs[arm64], file!));
                if (file!.EndsWith(".npy", StringComparison.Ordinal))
                {
                    var a = NpyFile.Decode(x64).Floats!;
                    var b = NpyFile.Decode(arm).Floats!;
                    float diff = MaxDiff(a, b);
                    log.WriteLine($"{task.Name} {file}: max |x64 − arm64| = {diff:E2}");
                    Assert.True(diff <= 1e-4f * Math.Max(1f, a.Max(Math.Abs)), $"{file}: arm64 differs from x64 by {diff}");
                }
                else if (file.EndsWith(".json", StringComparison.Ordinal))
                {
                    using var ja = JsonDocument.Parse(x64);
                    using var jb = JsonDocument.Parse(arm);
                    Assert.Equal(ja.RootElement.GetProperty("top")[0].GetProperty("index").GetInt32(), jb.RootElement.GetProperty("top")[0].GetProperty("index").GetInt32());
                    Assert.Equal(ja.RootElement.GetProperty("top")[0].GetProperty("probability").GetDouble(), jb.RootElement.GetProperty("top")[0].GetProperty("probability").GetDouble(), 1e-4);
                }
            }
        }
    }
}
