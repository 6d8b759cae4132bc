using System.Text.Json;
using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Format;
using EdgeTvq.Merging;
using EdgeTvq.Quantization;
using EdgeTvq.Runtime.Inference;
using EdgeTvq.Runtime.Input;
using EdgeTvq.Runtime.Serving;
using EdgeTvq.TestSupport;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Packer;

/// <summary>
/// <c>edgetvq-pack sensitivity</c> (<see cref="SensitivityProbe"/>): the weights follow their formula, one tensor's
/// Δloss equals the same loss difference measured through two separately packed bundles, the probe leaves the
/// model as it found it, and the weights file steers <c>pack --budget</c>.
/// </summary>
public class SensitivityCommandTests
{
    private const string Probed = "blocks.1.mlp.fc1.weight";

    [Fact]
    public void The_weights_are_loss_per_squared_error_floored_and_normalised_to_an_element_mean_of_one()
    {
        TensorEntry T(string n, long e) => new() { Name = n, Shape = [e], Storage = "quantized" };
        var tensors = new[] { T("a", 100), T("b", 300), T("c", 50), T("d", 10) };
        // a: 2 per unit error, b: 1, c: lowered the loss (floored), d: quantizes exactly (weight 1).
        var w = SensitivityProbe.Weights(tensors, [0.2, 0.3, -0.01, 0], [0.1, 0.3, 0.02, 0]);
        double mean = (2 * 100 + 1 * 300) / 450.0, floor = SensitivityProbe.FloorFraction * mean;
        double scale = 450 / (2 * 100 + 1 * 300 + floor * 50);
        Assert.Equal(2 * scale, w[0].Weight, 12);
        Assert.Equal(1 * scale, w[1].Weight, 12);
        Assert.Equal(floor * scale, w[2].Weight, 12);
        Assert.Equal(1, w[3].Weight);
        Assert.Equal(450, w.Take(3).Sum(x => x.Weight * x.Elements), 9);
    }

    private static double Loss(string bundle, string model, string task, IReadOnlyList<InputImage> images)
    {
        using var host = new ModelHost(bundle, model, new InferenceOptions { IntraOpThreads = 1 });
        host.Switch(MergeRecipe.Individual(task));
        using var lease = host.Acquire();
        return SensitivityProbe.MeanCrossEntropy(lease.Model, task, images);
    }

    private static MemorySource Load(string path)
    {
        using var src = new CheckpointTensorSource(path);
        var data = new Dictionary<string, (long[], float[])>();
        foreach (var t in src.Tensors.Where(t => t.IsFloating))
        {
            var v = new float[t.ElementCount];
            src.ReadFloat32(t.Name, v);
            data[t.Name] = (t.Shape, v);
        }
        return new MemorySource(path, data);
    }

    private static void PackFp32(MemorySource pre, MemorySource task, JsonElement meta, string dir) =>
        BundlePacker.Pack(pre, [new PackTask("mnist", task, meta)], new PackOptions { Scheme = Scheme.Tvq, Bits = 8, Policy = TensorPolicy.Parse("none") }, dir);

    [Fact]
    public void On_the_quick_zoo_the_probe_matches_a_separately_packed_perturbation_restores_the_model_and_steers_the_budget()
    {
        var zoo = new ZooFixture();
        using var dir = new TempDir();
        var mnist = zoo.Tasks.First(t => t.Name == "mnist");
        var meta = JsonDocument.Parse($"{{\"labels\": {JsonSerializer.Serialize(mnist.Labels)}, \"preprocessing\": {zoo.Manifest.GetProperty("preprocessing").GetRawText()}}}").RootElement;
        var pre = Load(zoo.File_("pretrained_pt"));
        var ft = Load(mnist.Pt);
        PackFp32(pre, ft, meta, dir["fp32"]);
        string model = zoo.File_("encoder_onnx");
        var val = zoo.Manifest.GetProperty("tasks").EnumerateArray().First(t => t.GetProperty("name").GetString() == "mnist")
            .GetProperty("files").GetProperty("val_images").GetString()!;
        var images = ImageFiles.Load(Path.Combine(zoo.Dir, val)).Take(200).ToList();

        SensitivityResult result;
        double after;
        using (var host = new ModelHost(dir["fp32"], model, new InferenceOptions { IntraOpThreads = 1 }))
        {
            result = SensitivityProbe.Measure(host, model, new Dictionary<string, IReadOnlyList<InputImage>> { ["mnist"] = images });
            using var lease = host.Acquire();
            after = SensitivityProbe.MeanCrossEntropy(lease.Model, "mnist", images);
        }
        Assert.Equal(result.BaseLoss["mnist"], after); // every probed tensor was put back, bit for bit

        // The same perturbation packed as its own float32 bundle: θ_pre + Q₂(τ) for one tensor, the rest unchanged.
        var (shape, ftValues) = ft.Data[Probed];
        var preValues = pre.Data[Probed].Values;
        var tau = ftValues.Select((v, i) => v - preValues[i]).ToArray();
        var tauHat = new float[tau.Length];
        AsymmetricQuantizer.RoundTrip(tau, 2, QuantMode.Default, new byte[tau.Length], tauHat);
        var perturbed = new MemorySource("perturbed.pt", new Dictionary<string, (long[], float[])>(ft.Data)
        {
            [Probed] = (shape, preValues.Select((p, i) => p + tauHat[i]).ToArray()),
        });
        PackFp32(pre, perturbed, meta, dir["perturbed"]);
        double byHand = Loss(dir["perturbed"], model, "mnist", images) - Loss(dir["fp32"], model, "mnist", images);
        var probed = result.Tensors.Single(t => t.Name == Probed);
        Assert.True(byHand > 1e-4, $"the 2-bit perturbation of {Probed} should raise the loss measurably (ΔL {byHand})");
        Assert.Equal(byHand, probed.LossIncrease, 4);
        Assert.Equal(tau.Select((v, i) => (double)(tauHat[i] - v) * (tauHat[i] - v)).Sum(), probed.Error, 6);

        // The command writes every probed tensor; the file steers the budget allocation.
        var weightsFile = dir["weights.json"];
        var validation = dir["mnist.val.images.idx"];
        File.Copy(Path.Combine(zoo.Dir, val), validation);
        File.Copy(Path.Combine(zoo.Dir, val).Replace(".images.idx", ".labels.idx"), validation.Replace(".images.idx", ".labels.idx"));
        var o = new StringWriter();
        int code;
        lock (typeof(Console))
        {
            var old = Console.Out;
            Console.SetOut(o);
            try
            {
                code = EdgeTvq.Packer.Program.Main(["sensitivity", "--bundle", dir["fp32"], "--model", model, "--validation", $"mnist={validation}",
                    "--out", weightsFile, "--threads", "1"]);
            }
            finally { Console.SetOut(old); }
        }
        Assert.True(code == 0, o.ToString());
        var weights = PackCommandSensitivity(weightsFile);
        var table = ManifestIO.Load(dir["fp32"]).Tensors.Where(e => e.Storage != "skipped" && e.ElementCount > 0).ToList();
        Assert.Equal(table.Select(e => e.Name), weights.Keys);
        Assert.All(weights.Values, w => Assert.True(w > 0 && double.IsFinite(w)));
        Assert.Equal(1.0, table.Where(e => result.Tensors.First(t => t.Name == e.Name).Error > 0).Sum(e => weights[e.Name] * e.ElementCount)
                          / table.Where(e => result.Tensors.First(t => t.Name == e.Name).Error > 0).Sum(e => (double)e.ElementCount), 9);

        PackOptions Budget(IReadOnlyDictionary<string, double>? s) => new() { Scheme = Scheme.Tvq, BudgetBits = 4, Sensitivity = s };
        BundlePacker.Pack(pre, [new PackTask("mnist", ft, meta)], Budget(null), dir["unit"]);
        BundlePacker.Pack(pre, [new PackTask("mnist", ft, meta)], Budget(weights), dir["weighted"]);
        var unit = ManifestIO.Load(dir["unit"]).Tensors.ToDictionary(e => e.Name, e => e.Bits);
        var weighted = ManifestIO.Load(dir["weighted"]).Tensors.ToDictionary(e => e.Name, e => e.Bits);
        Assert.Contains(unit.Keys, n => unit[n] != weighted[n]);
    }

    private static Dictionary<string, double> PackCommandSensitivity(string file) => EdgeTvq.Packer.Commands.PackCommand.LoadSensitivity(file);
}
