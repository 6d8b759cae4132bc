using System.Text;
using EdgeTvq.Checkpoints;
using EdgeTvq.Merging;
using EdgeTvq.Runtime.Inference;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace EdgeTvq.Runtime.Tests.Inference;

/// <summary>
/// The protobuf rewriting, checked with readers that share no code with it: the Checkpoints ONNX reader (initializers
/// and their bytes) and ONNX Runtime's own parser (graph inputs and their types).
/// </summary>
[Collection(MergedReferenceCollection.Name)]
public sealed class OnnxModelRewriterTests(MergedReference fx)
{
    private static List<(string Name, long[] Shape, byte[] Raw)> ReadInitializers(string path)
    {
        using ICheckpoint checkpoint = CheckpointReader.Open(path);
        return checkpoint.Tensors.Select(t => (t.Name, t.Shape, t.RawBytes.ToArray())).ToList();
    }

    private static List<(string Name, long[] Shape, byte[] Raw)> ReadInitializers(byte[] model, TempDir dir)
    {
        string path = dir.File($"rewritten-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, model);
        return ReadInitializers(path);
    }

    [Fact]
    public void WeightsAsInputsMovesEveryFloatInitializerToTheGraphInputs()
    {
        using var dir = new TempDir();
        var original = ReadInitializers(fx.ModelPath);
        WeightInputsModel rewritten = OnnxModelRewriter.WeightsAsInputs(File.ReadAllBytes(fx.ModelPath), fx.ModelPath);

        Assert.Equal(original.Select(t => t.Name), rewritten.WeightInputs.Select(w => w.Name));
        Assert.Equal(original.Select(t => t.Shape), rewritten.WeightInputs.Select(w => w.Dims));
        Assert.All(rewritten.WeightInputs, w => Assert.Equal(1, w.DataType));
        Assert.Empty(OnnxModelRewriter.Initializers(rewritten.Bytes, "rewritten"));
        Assert.Empty(ReadInitializers(rewritten.Bytes, dir));

        using var session = new InferenceSession(rewritten.Bytes);
        Assert.Equal(new[] { MergedReference.ImageInput }.Concat(original.Select(t => t.Name)), session.InputNames);
        foreach ((string name, long[] shape, _) in original)
        {
            NodeMetadata meta = session.InputMetadata[name];
            Assert.Equal(TensorElementType.Float, meta.ElementDataType);
            Assert.Equal(shape, meta.Dimensions.Select(d => (long)d));
        }
        Assert.Equal([MergedReference.FeaturesOutput], session.OutputNames);
    }

    [Fact]
    public void WeightsAsInputsOfASubsetKeepsTheOtherInitializers()
    {
        using var dir = new TempDir();
        var original = ReadInitializers(fx.ModelPath);
        string[] names = ["blocks.0.qkv.weight", "cls_token"];
        WeightInputsModel rewritten = OnnxModelRewriter.WeightsAsInputs(File.ReadAllBytes(fx.ModelPath), fx.ModelPath, names);

        Assert.Equal(["cls_token", "blocks.0.qkv.weight"], rewritten.WeightInputs.Select(w => w.Name)); // file order
        var kept = ReadInitializers(rewritten.Bytes, dir);
        Assert.Equal(original.Where(t => !names.Contains(t.Name)).Select(t => (t.Name, t.Raw)), kept.Select(t => (t.Name, t.Raw)));

        using var session = new InferenceSession(rewritten.Bytes);
        Assert.Equal([MergedReference.ImageInput, "cls_token", "blocks.0.qkv.weight"], session.InputNames);
        Assert.Equal([96, 32], session.InputMetadata["blocks.0.qkv.weight"].Dimensions);
    }

    [Fact]
    public void RewritingNothingReproducesTheFileByteForByte()
    {
        byte[] model = File.ReadAllBytes(fx.ModelPath);
        Assert.Equal(model, OnnxModelRewriter.WeightsAsInputs(model, fx.ModelPath, []).Bytes);
        // torch writes TensorProto fields as dims, data_type, name, raw_data: re-embedding the file's own weights
        // re-encodes every initializer and must give back the same bytes.
        using WeightSet own = fx.OriginalWeights();
        Assert.Equal(model, OnnxModelRewriter.Embed(model, fx.ModelPath, own));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EmbeddedModelHoldsTheNewWeightsBitForBit(bool externalData)
    {
        using var dir = new TempDir(); // no external data file here: the result must be self-contained
        string source = fx.ModelFor(externalData);
        using WeightSet weights = fx.VariantAWeights();
        byte[] embedded = OnnxModelRewriter.Embed(File.ReadAllBytes(source), source, weights);

        var expected = ReadInitializers(fx.PathOf("variant_a.safetensors")).ToDictionary(t => t.Name);
        var actual = ReadInitializers(embedded, dir);
        Assert.Equal(ReadInitializers(fx.ModelPath).Select(t => t.Name), actual.Select(t => t.Name)); // order kept
        foreach ((string name, long[] shape, byte[] raw) in actual)
        {
            Assert.Equal(expected[name].Shape, shape);
            Assert.True(expected[name].Raw.AsSpan().SequenceEqual(raw), $"{name}: embedded bytes differ from the weight set");
        }
        Assert.All(OnnxModelRewriter.Initializers(embedded, "embedded"), i => Assert.False(i.IsExternal));
    }

    [Fact]
    public void InitializersKeptFromAnExternalDataModelAreInlined()
    {
        using var dir = new TempDir();
        byte[] model = File.ReadAllBytes(fx.ExternalModelPath);
        Assert.All(OnnxModelRewriter.Initializers(model, fx.ExternalModelPath), i => Assert.True(i.IsExternal));
        var original = ReadInitializers(fx.ModelPath);
        string[] names = ["norm.weight"];

        WeightInputsModel asInputs = OnnxModelRewriter.WeightsAsInputs(model, fx.ExternalModelPath, names);
        Assert.Equal(original.Where(t => t.Name != "norm.weight").Select(t => (t.Name, t.Raw)),
            ReadInitializers(asInputs.Bytes, dir).Select(t => (t.Name, t.Raw)));

        using WeightSet weights = MergedReference.LoadWeights(fx.PathOf("variant_b.safetensors"), names.Contains);
        var embedded = ReadInitializers(OnnxModelRewriter.Embed(model, fx.ExternalModelPath, weights, names), dir);
        var variantB = ReadInitializers(fx.PathOf("variant_b.safetensors")).Single(t => t.Name == "norm.weight");
        Assert.Equal(original.Select(t => t.Name == "norm.weight" ? variantB.Raw : t.Raw), embedded.Select(t => t.Raw));
    }

    [Fact]
    public void MissingExternalDataFileIsNamed()
    {
        using var dir = new TempDir();
        string path = dir.File("model.onnx");
        File.Copy(fx.ExternalModelPath, path);
        var e = Assert.Throws<OnnxModelException>(() => OnnxModelRewriter.WeightsAsInputs(File.ReadAllBytes(path), path, []));
        Assert.Contains("model.onnx.data", e.Message);
        Assert.Equal(path, e.ModelPath);
        Assert.Equal("cls_token", e.TensorName);
    }

    [Fact]
    public void ExternalDataOutsideTheModelFolderIsRefused()
    {
        byte[] model = File.ReadAllBytes(fx.ExternalModelPath);
        // Same length, so every protobuf length stays valid.
        byte[] from = Encoding.UTF8.GetBytes("model.onnx.data"), to = Encoding.UTF8.GetBytes("../model.onnx.d");
        int replaced = 0;
        for (int i = model.AsSpan().IndexOf(from); i >= 0; i = model.AsSpan().IndexOf(from), replaced++)
            to.CopyTo(model, i);
        Assert.Equal(30, replaced);
        var e = Assert.Throws<OnnxModelException>(() => OnnxModelRewriter.WeightsAsInputs(model, fx.ExternalModelPath, []));
        Assert.Contains("outside the model's folder", e.Message);
    }

    [Fact]
    public void SelectingAnUnknownInitializerIsAnError()
    {
        byte[] model = File.ReadAllBytes(fx.ModelPath);
        var e = Assert.Throws<OnnxModelException>(() => OnnxModelRewriter.WeightsAsInputs(model, fx.ModelPath, ["head.weight"]));
        Assert.Equal("head.weight", e.TensorName);
        using WeightSet none = new();
        e = Assert.Throws<OnnxModelException>(() => OnnxModelRewriter.Embed(model, fx.ModelPath, none));
        Assert.Equal("cls_token", e.TensorName);
        Assert.Contains("no tensor of this name", e.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(100)]
    [InlineData(50_000)]
    public void TruncatedModelBytesAreReportedWithThePath(int keep)
    {
        byte[] model = File.ReadAllBytes(fx.ModelPath)[..keep];
        var e = Assert.Throws<OnnxModelException>(() => OnnxModelRewriter.WeightsAsInputs(model, "cut.onnx"));
        Assert.StartsWith("cut.onnx: ", e.Message);
    }
}
