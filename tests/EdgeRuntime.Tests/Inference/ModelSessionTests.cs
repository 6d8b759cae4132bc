using EdgeTvq.Merging;
using EdgeTvq.Runtime.Inference;
using Xunit.Abstractions;

namespace EdgeTvq.Runtime.Tests.Inference;

/// <summary>
/// Both session modes against PyTorch: the model runs with weights that deliberately differ from the ones in the file
/// and must reproduce PyTorch's outputs for those weights (so a session that silently kept the file's weights fails).
/// </summary>
[Collection(MergedReferenceCollection.Name)]
public sealed class ModelSessionTests(MergedReference fx, ITestOutputHelper log)
{
    private const float Tolerance = 1e-4f;
    // The variants move every output by ~0.1 or more; demand far more than the tolerance.
    private const float MinimumEffect = 100 * Tolerance;

    private float[] RunBatch(ModelSession session) =>
        session.Run(MergedReference.ImageInput, fx.Image, MergedReference.BatchShape, MergedReference.FeaturesOutput);

    private void AssertMatches(float[] expected, float[] actual, string what)
    {
        float diff = MergedReference.MaxAbsDiff(expected, actual);
        log.WriteLine($"{what}: max |ORT - PyTorch| = {diff:E2}");
        Assert.True(diff <= Tolerance, $"{what}: max abs difference {diff} exceeds {Tolerance}");
    }

    [Theory]
    [InlineData(SessionMode.WeightsAsInputs, false)]
    [InlineData(SessionMode.WeightsAsInputs, true)]
    [InlineData(SessionMode.Embedded, false)]
    [InlineData(SessionMode.Embedded, true)]
    public void PerturbedWeightsReproducePyTorch(SessionMode mode, bool externalData)
    {
        using ModelSession session = ModelSession.Create(fx.ModelFor(externalData), fx.VariantAWeights(), new InferenceOptions { Mode = mode });
        float[] output = RunBatch(session);

        AssertMatches(fx.VariantA, output, $"{mode}, external={externalData}, variant A");
        float effect = MergedReference.MaxAbsDiff(fx.Original, output);
        log.WriteLine($"max |variant A - original| = {effect:F4}");
        Assert.True(effect > MinimumEffect, $"outputs differ from the original weights' by only {effect}: the new weights were not used");
        Assert.Equal(mode, session.Mode);
        Assert.Equal(ExecutionProvider.Cpu, session.Provider);
        Assert.Null(session.ProviderNote);
        Assert.Equal([MergedReference.ImageInput], session.InputNames);
        Assert.Equal([MergedReference.FeaturesOutput], session.OutputNames);
        Assert.Equal(mode == SessionMode.WeightsAsInputs ? 30 : 0, session.WeightInputs.Count);
    }

    [Theory]
    [InlineData(SessionMode.WeightsAsInputs)]
    [InlineData(SessionMode.Embedded)]
    public void OriginalWeightsReproducePyTorch(SessionMode mode)
    {
        using ModelSession session = ModelSession.Create(fx.ModelPath, fx.OriginalWeights(), new InferenceOptions { Mode = mode, IntraOpThreads = 1 });
        AssertMatches(fx.Original, RunBatch(session), $"{mode}, original weights");
    }

    [Fact]
    public void RebindSwitchesTasksOnTheSameSession()
    {
        using ModelSession session = ModelSession.Create(fx.ExternalModelPath, fx.VariantAWeights());
        AssertMatches(fx.VariantA, RunBatch(session), "variant A");

        session.Rebind(fx.VariantBWeights());
        float[] b = RunBatch(session);
        AssertMatches(fx.VariantB, b, "after rebinding variant B");
        Assert.True(MergedReference.MaxAbsDiff(fx.VariantA, b) > MinimumEffect);

        session.Rebind(fx.VariantAWeights());
        AssertMatches(fx.VariantA, RunBatch(session), "after rebinding variant A again");
    }

    [Fact]
    public void RebindRejectsMismatchedWeightsAndKeepsTheCurrentOnes()
    {
        using ModelSession session = ModelSession.Create(fx.ModelPath, fx.VariantAWeights());
        WeightSet partial = MergedReference.LoadWeights(fx.PathOf("variant_b.safetensors"), name => name != "norm.bias");

        var e = Assert.Throws<OnnxModelException>(() => session.Rebind(partial));
        Assert.Equal("norm.bias", e.TensorName);
        Assert.Throws<ObjectDisposedException>(() => partial.Span("norm.weight")); // ownership passed even on failure
        AssertMatches(fx.VariantA, RunBatch(session), "still variant A");
    }

    [Fact]
    public void EmbeddedSessionCannotRebindAndFreesTheWeightsEarly()
    {
        WeightSet weights = fx.VariantAWeights();
        using ModelSession session = ModelSession.Create(fx.ModelPath, weights, new InferenceOptions { Mode = SessionMode.Embedded });
        Assert.Throws<ObjectDisposedException>(() => weights.Span("norm.weight"));

        WeightSet other = fx.VariantBWeights();
        var e = Assert.Throws<InvalidOperationException>(() => session.Rebind(other));
        Assert.Contains("new ModelSession", e.Message);
        Assert.Throws<ObjectDisposedException>(() => other.Span("norm.weight"));
    }

    [Fact]
    public void BatchOfOneMatchesTheFirstRow()
    {
        using ModelSession session = ModelSession.Create(fx.ModelPath, fx.VariantAWeights());
        float[] one = session.Run(MergedReference.ImageInput, fx.Image[..(28 * 28)], [1, 1, 28, 28], MergedReference.FeaturesOutput, out long[] shape);
        Assert.Equal([1L, 32], shape);
        AssertMatches(fx.VariantA[..32], one, "batch of one");
    }

    [Fact]
    public void ConcurrentRunsGiveTheSameOutputs()
    {
        using ModelSession session = ModelSession.Create(fx.ModelPath, fx.VariantAWeights(), new InferenceOptions { IntraOpThreads = 1 });
        float[][] outputs = new float[8][];
        Parallel.For(0, outputs.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => outputs[i] = RunBatch(session));
        foreach (float[] o in outputs) AssertMatches(fx.VariantA, o, "concurrent run");
    }

    [Fact]
    public void WeightsAsInputsNeedsNoExternalDataFileWhenEveryInitializerIsBound()
    {
        using var dir = new TempDir();
        File.Copy(fx.ExternalModelPath, dir.File("model.onnx")); // without model.onnx.data
        using ModelSession session = ModelSession.Create(dir.File("model.onnx"), fx.VariantAWeights());
        AssertMatches(fx.VariantA, RunBatch(session), "external model without its data file");
    }

    [Fact]
    public void CudaRequestFallsBackToCpuWithAMessage()
    {
        using ModelSession session = ModelSession.Create(fx.ModelPath, fx.VariantAWeights(), new InferenceOptions { Provider = ExecutionProvider.Cuda });
        log.WriteLine(session.ProviderNote);
        Assert.Equal(ExecutionProvider.Cpu, session.Provider);
        Assert.NotNull(session.ProviderNote);
        Assert.Contains("CUDA execution provider requested but not available", session.ProviderNote);
        Assert.Contains("running on CPU", session.ProviderNote);
        AssertMatches(fx.VariantA, RunBatch(session), "CUDA request on the CPU build");
    }

    [Fact]
    public void TensorRtRequestFallsBackToCpuWithAMessage()
    {
        using ModelSession session = ModelSession.Create(fx.ModelPath, fx.VariantAWeights(),
            new InferenceOptions { Provider = ExecutionProvider.TensorRt, Mode = SessionMode.Embedded });
        log.WriteLine(session.ProviderNote);
        Assert.Equal(ExecutionProvider.Cpu, session.Provider);
        Assert.Contains("TensorRT execution provider requested", session.ProviderNote);
        Assert.Contains("CUDA execution provider requested", session.ProviderNote);
    }

    [Fact]
    public void MissingModelFileIsNamedAndTheWeightsAreFreed()
    {
        string path = Path.Combine(fx.Dir, "no-such-model.onnx");
        WeightSet weights = fx.VariantAWeights();
        var e = Assert.Throws<FileNotFoundException>(() => ModelSession.Create(path, weights));
        Assert.Contains(path, e.Message);
        Assert.Throws<ObjectDisposedException>(() => weights.Span("norm.weight"));
    }

    [Theory]
    [InlineData("text")]
    [InlineData("truncated")]
    [InlineData("empty")]
    public void InvalidModelFileIsNamed(string kind)
    {
        using var dir = new TempDir();
        string path = dir.File($"{kind}.onnx");
        byte[] model = File.ReadAllBytes(fx.ModelPath);
        File.WriteAllBytes(path, kind switch
        {
            "text" => "this is not an ONNX model\n"u8.ToArray(),
            "truncated" => model[..(model.Length / 2)],
            _ => [],
        });
        var e = Assert.Throws<OnnxModelException>(() => ModelSession.Create(path, fx.VariantAWeights()));
        log.WriteLine(e.Message);
        Assert.Equal(path, e.ModelPath);
        Assert.StartsWith(path + ": ", e.Message);
    }

    [Fact]
    public void GraphOnnxRuntimeRejectsIsReportedWithTheFile()
    {
        using var dir = new TempDir();
        string path = dir.File("bad-graph.onnx");
        // A valid protobuf whose graph is empty apart from a name, with no opset: ORT refuses it.
        File.WriteAllBytes(path, [0x08, 0x07, 0x3A, 0x03, 0x12, 0x01, (byte)'g']);
        var e = Assert.Throws<OnnxModelException>(() => ModelSession.Create(path, new WeightSet()));
        log.WriteLine(e.Message);
        Assert.Contains("ONNX Runtime could not load the model", e.Message);
        Assert.StartsWith(path, e.Message);
    }

    [Fact]
    public void WeightsThatDoNotFitTheModelAreNamed()
    {
        WeightSet wrong = MergedReference.LoadWeights(fx.PathOf("variant_a.safetensors"), name => name != "blocks.1.fc1.weight");
        wrong.Add("blocks.1.fc1.weight", [32, 64]); // transposed
        var e = Assert.Throws<OnnxModelException>(() => ModelSession.Create(fx.ModelPath, wrong, new InferenceOptions { Mode = SessionMode.Embedded }));
        Assert.Equal("blocks.1.fc1.weight", e.TensorName);
        Assert.Contains("[32, 64]", e.Message);
        Assert.Contains("[64, 32]", e.Message);

        WeightSet extra = fx.VariantAWeights();
        extra.Add("head.weight", [10, 32]);
        e = Assert.Throws<OnnxModelException>(() => ModelSession.Create(fx.ModelPath, extra));
        Assert.Equal("head.weight", e.TensorName);
    }

    [Fact]
    public void RunValidatesItsArguments()
    {
        using ModelSession session = ModelSession.Create(fx.ModelPath, fx.VariantAWeights());
        Assert.Throws<ArgumentException>(() => session.Run("pixels", fx.Image, MergedReference.BatchShape, MergedReference.FeaturesOutput));
        Assert.Throws<ArgumentException>(() => session.Run("blocks.0.qkv.weight", fx.Image, MergedReference.BatchShape, MergedReference.FeaturesOutput));
        Assert.Throws<ArgumentException>(() => session.Run(MergedReference.ImageInput, fx.Image, MergedReference.BatchShape, "logits"));
        Assert.Throws<ArgumentException>(() => session.Run(MergedReference.ImageInput, fx.Image, [3, 1, 28, 28], MergedReference.FeaturesOutput));
        session.Dispose();
        Assert.Throws<ObjectDisposedException>(() => RunBatch(session));
        Assert.Throws<ObjectDisposedException>(() => session.Rebind(fx.VariantBWeights()));
    }

    [Fact]
    public void SubsetOfWeightsKeepsTheModelsOtherInitializers()
    {
        // Only the final LayerNorm is task-dependent: take it from variant A, everything else from the file.
        // The output is that LayerNorm's affine map of the normalised cls token, so the expected output follows
        // from PyTorch's original one: (original - b0) / w0 * w1 + b1 per feature.
        string[] names = ["norm.weight", "norm.bias"];
        float[] expected = new float[fx.Original.Length];
        using (WeightSet w0 = fx.OriginalWeights())
        using (WeightSet w1 = MergedReference.LoadWeights(fx.PathOf("variant_a.safetensors"), names.Contains))
        {
            for (int i = 0; i < expected.Length; i++)
            {
                int j = i % 32;
                expected[i] = (fx.Original[i] - w0.Span("norm.bias")[j]) / w0.Span("norm.weight")[j] * w1.Span("norm.weight")[j] + w1.Span("norm.bias")[j];
            }
        }
        Assert.True(MergedReference.MaxAbsDiff(fx.Original, expected) > MinimumEffect);

        foreach (SessionMode mode in new[] { SessionMode.WeightsAsInputs, SessionMode.Embedded })
        {
            WeightSet weights = MergedReference.LoadWeights(fx.PathOf("variant_a.safetensors"), names.Contains);
            using ModelSession session = ModelSession.Create(fx.ExternalModelPath, weights, new InferenceOptions { Mode = mode, WeightNames = names });
            Assert.Equal(mode == SessionMode.WeightsAsInputs ? names : [], session.WeightInputs.Select(w => w.Name));
            AssertMatches(expected, RunBatch(session), $"{mode}, only the final LayerNorm replaced");
        }
    }
}
