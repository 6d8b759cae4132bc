using System.Diagnostics;
using EdgeTvq.Runtime.Inference;
using EdgeTvq.Runtime.Tests.Inference;

namespace EdgeTvq.Runtime.Tests.Hardening;

/// <summary>
/// The runtime's own reader of external ONNX data (it inlines them into the rewritten model) decides "inside the
/// model's folder" on the real path: a symbolic link to a file or folder outside, or a FIFO or device, is refused.
/// </summary>
[Collection(MergedReferenceCollection.Name)]
public sealed class ExternalDataSafetyTests(MergedReference fx) : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "edgetvq-extdata-" + Guid.NewGuid().ToString("N")[..10]);

    /// <summary>model/model.onnx (its data file left to <paramref name="placeData"/>) and outside/model.onnx.data, a true copy of the data.</summary>
    private string Model(Action<string, string> placeData)
    {
        string model = Path.Combine(_root, "model"), outside = Path.Combine(_root, "outside");
        Directory.CreateDirectory(model);
        Directory.CreateDirectory(outside);
        File.Copy(fx.ExternalModelPath, Path.Combine(model, "model.onnx"));
        File.Copy(fx.ExternalModelPath + ".data", Path.Combine(outside, "model.onnx.data"));
        placeData(model, outside);
        return Path.Combine(model, "model.onnx");
    }

    /// <summary>
    /// Every FLOAT initializer but norm.bias takes merged weights; norm.bias keeps the model's own value, so the
    /// session must read it from the external data file.
    /// </summary>
    private ModelSession Create(string modelPath, SessionMode mode)
    {
        var weights = MergedReference.LoadWeights(fx.PathOf("variant_a.safetensors"), name => name != "norm.bias");
        return ModelSession.Create(modelPath, weights, new InferenceOptions { Mode = mode, WeightNames = weights.Names.ToList() });
    }

    private OnnxModelException Refused(string modelPath)
    {
        OnnxModelException? last = null;
        foreach (var mode in new[] { SessionMode.WeightsAsInputs, SessionMode.Embedded })
            last = Assert.Throws<OnnxModelException>(() => Create(modelPath, mode));
        return last!;
    }

    [Fact]
    public void A_real_data_file_beside_the_model_works()
    {
        string path = Model((model, outside) => File.Copy(Path.Combine(outside, "model.onnx.data"), Path.Combine(model, "model.onnx.data")));
        foreach (var mode in new[] { SessionMode.WeightsAsInputs, SessionMode.Embedded })
        {
            using var session = Create(path, mode);
        }
    }

    [Fact]
    public void A_symlink_to_a_data_file_outside_the_folder_is_refused()
    {
        string path = Model((model, outside) => File.CreateSymbolicLink(Path.Combine(model, "model.onnx.data"), Path.Combine(outside, "model.onnx.data")));
        var e = Refused(path);
        Assert.Contains("symbolic link", e.Message);
        Assert.Contains("outside the model's folder", e.Message);
    }

    [Fact]
    public void A_symlink_to_dev_zero_or_a_fifo_is_refused_by_name()
    {
        string path = Model((model, _) => File.CreateSymbolicLink(Path.Combine(model, "model.onnx.data"), "/dev/zero"));
        Assert.Contains("model.onnx.data", Refused(path).Message);

        Directory.Delete(_root, recursive: true);
        path = Model((model, _) =>
        {
            using var p = Process.Start(new ProcessStartInfo("mkfifo", [Path.Combine(model, "model.onnx.data")]) { UseShellExecute = false })!;
            p.WaitForExit();
        });
        var e = Refused(path); // must not block on the FIFO
        Assert.Contains("FIFO", e.Message);
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}
