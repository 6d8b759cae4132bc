using System.Diagnostics;
using System.Runtime.InteropServices;
using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Merging;
using EdgeTvq.Runtime.Inference;
using EdgeTvq.Runtime.Serving;
using EdgeTvq.Runtime.Tests.Inference;

namespace EdgeTvq.Runtime.Tests.Serving;

/// <summary>
/// The whole device path — bundle streamed from storage, fused dequantize-merge, ONNX Runtime with the merged weights —
/// against PyTorch running the same network with the same merged weights (fixtures/run_with_weights.py), within 1e-4.
/// </summary>
[Collection(MergedReferenceCollection.Name)]
public class MergedModelTests(MergedReference fx)
{
    /// <summary>PyTorch's features for <paramref name="weights"/> on the fixture's image batch.</summary>
    private float[] PyTorchFeatures(WeightSet weights, string work)
    {
        string weightsFile = Path.Combine(work, "merged.safetensors"), images = Path.Combine(work, "images.f32"), output = Path.Combine(work, "features.f32");
        SafetensorsWriter.WriteFloat32(weightsFile, weights.Names.Select(n => (n, weights.ShapeOf(n), weights.Span(n).ToArray())));
        File.WriteAllBytes(images, MemoryMarshal.AsBytes(fx.Image.AsSpan()).ToArray());
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("EDGETVQ_PYTHON") ?? "/usr/bin/python3") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "fixtures", "run_with_weights.py"), weightsFile, images, "4", output }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, err);
        return MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(output)).ToArray();
    }

    public static IEnumerable<object[]> Cases() =>
        from scheme in new[] { "tvq8", "rtvq-b3o2" }
        from mode in new[] { SessionMode.WeightsAsInputs, SessionMode.Embedded }
        from recipe in new[] { "individual a", "ta 0.3" }
        select new object[] { scheme, mode, recipe };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Onnx_runtime_with_merged_weights_matches_pytorch_within_1e_4(string scheme, SessionMode mode, string recipeText)
    {
        using var bundle = new BundleOnModel(fx, scheme == "tvq8" ? BundleOnModel.Tvq8 : BundleOnModel.RtvqB3O2);
        var recipe = recipeText == "ta 0.3" ? MergeRecipe.TaskArithmetic(["a", "b"], 0.3f) : MergeRecipe.Individual("a");
        var m = ManifestIO.Load(bundle.Bundle);

        using var host = new ModelHost(bundle.Bundle, fx.ModelPath, new InferenceOptions { Mode = mode });
        host.Switch(recipe);
        float[] ours;
        using (var lease = host.Acquire()) ours = lease.Model.Encode(fx.Image, 4, 28);

        using var pre = new CheckpointTensorSource(fx.ModelPath);
        using var merged = BundleMerger.Merge(bundle.Bundle, m, pre, recipe);
        float[] torch = PyTorchFeatures(merged.Weights, bundle.Dir);

        float diff = ours.Zip(torch, (x, y) => Math.Abs(x - y)).Max();
        Assert.True(diff <= 1e-4f, $"{scheme} {mode} {recipe}: max |ORT − PyTorch| = {diff}");
        // The merged weights are really in use: the pretrained model's outputs are far away.
        Assert.True(ours.Zip(fx.Original, (x, y) => Math.Abs(x - y)).Max() > 1e-2f);
    }
}
