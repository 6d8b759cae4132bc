using Xunit;

namespace EdgeTvq.Checkpoints.Tests;

/// <summary>Every file written by make_checkpoints.py reads back exactly as PyTorch / ONNX reported it.</summary>
[Collection(PythonCheckpointsCollection.Name)]
public sealed class FixtureFileTests(PythonCheckpoints fx)
{
    public static TheoryData<string, string> Files => new()
    {
        { "state_dict.pt", "pytorch" },
        { "wrapped.pt", "pytorch" },
        { "module.pt", "pytorch" },
        { "fp16.pt", "pytorch" },
        { "bf16.pt", "pytorch" },
        { "views.pt", "pytorch" },
        { "dtypes.pt", "pytorch" },
        { "special.pt", "pytorch" },
        { "tiny.pt", "pytorch" },
        { "referenced_global.pt", "pytorch" },
        { "model_f32.safetensors", "safetensors" },
        { "model_f16.safetensors", "safetensors" },
        { "model_bf16.safetensors", "safetensors" },
        { "special.safetensors", "safetensors" },
        { "dtypes.safetensors", "safetensors" },
        { "tiny.safetensors", "safetensors" },
        { "model.onnx", "onnx" },
        { "external/model.onnx", "onnx" },
        { "model_typed.onnx", "onnx" },
        { "dtypes.onnx", "onnx" },
        { "tiny.onnx", "onnx" },
    };

    [Theory]
    [MemberData(nameof(Files))]
    public void Reads_every_tensor_bit_exact(string file, string format)
    {
        using ICheckpoint ckpt = CheckpointReader.Open(fx.PathOf(file));
        Assert.Equal(format, ckpt.Format);
        Assert.Equal(fx.PathOf(file), ckpt.Path);
        TensorAssert.Matches(fx.Reference[file], ckpt);
        foreach (CheckpointTensor t in ckpt.Tensors) Assert.Same(t, ckpt.Find(t.Name));
        Assert.Null(ckpt.Find("no.such.tensor"));
    }

    [Fact]
    public void Every_reference_file_is_covered()
    {
        Assert.Equal(fx.Reference.Keys.Order(), Files.Select(row => (string)row[0]).Order());
    }

    [Theory]
    [InlineData("module.pt")]
    [InlineData("wrapped.pt")]
    [InlineData("model_f32.safetensors")]
    [InlineData("model.onnx")]
    [InlineData("external/model.onnx")]
    [InlineData("model_typed.onnx")]
    public void Same_names_and_values_as_the_state_dict(string file)
    {
        using ICheckpoint sd = CheckpointReader.Open(fx.PathOf("state_dict.pt"));
        using ICheckpoint other = CheckpointReader.Open(fx.PathOf(file));
        Assert.Equal(sd.Tensors.Select(t => t.Name), other.Tensors.Select(t => t.Name));
        foreach (CheckpointTensor expected in sd.Tensors)
        {
            CheckpointTensor actual = other.Find(expected.Name)!;
            Assert.Equal(expected.DType, actual.DType);
            Assert.Equal(expected.Shape, actual.Shape);
            Assert.True(expected.RawBytes.SequenceEqual(actual.RawBytes), expected.Name);
        }
    }

    [Fact]
    public void Module_pickle_skips_non_persistent_buffers()
    {
        using ICheckpoint module = CheckpointReader.Open(fx.PathOf("module.pt"));
        Assert.Null(module.Find("scratch"));
        Assert.NotNull(module.Find("scale"));
        Assert.NotNull(module.Find("head.2.bias"));
    }

    [Fact]
    public void Strided_and_shared_views_are_materialized()
    {
        using ICheckpoint views = CheckpointReader.Open(fx.PathOf("views.pt"));
        float[] b = views.Find("base")!.ToFloat32Array();
        float[] t = views.Find("transposed")!.ToFloat32Array();
        Assert.Equal([6L, 4L], views.Find("transposed")!.Shape);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 6; j++)
                Assert.Equal(b[i * 6 + j], t[j * 4 + i]);
        Assert.Equal(b[12..18], views.Find("row")!.ToFloat32Array());
        Assert.Equal([b[3], b[9], b[15], b[21]], views.Find("column")!.ToFloat32Array());
        Assert.Equal([1.5f, -2f, 3.25f, 1.5f, -2f, 3.25f], views.Find("expanded")!.ToFloat32Array());
        Assert.Empty(views.Find("scalar")!.Shape);
        Assert.Equal(1, views.Find("scalar")!.ElementCount);
        Assert.Equal(0, views.Find("empty")!.ElementCount);
    }

    [Fact]
    public void Non_floating_tensors_refuse_float_conversion()
    {
        using ICheckpoint ckpt = CheckpointReader.Open(fx.PathOf("dtypes.pt"));
        CheckpointTensor i64 = ckpt.Find("i64")!;
        Assert.False(i64.IsFloating);
        var e = Assert.Throws<CheckpointFormatException>(() => i64.ToFloat32Array());
        Assert.Equal("i64", e.TensorName);
        Assert.Contains("dtypes.pt", e.Message);
        Assert.Contains("I64", e.Message);
        Assert.Throws<ArgumentException>(() => ckpt.Find("f32")!.ReadFloat32(new float[4]));
        Assert.True(ckpt.Find("f64")!.IsFloating);
    }

    [Fact]
    public void TryFindNonFinite_reports_the_first_inf_or_nan()
    {
        using ICheckpoint special = CheckpointReader.Open(fx.PathOf("special.pt"));
        // all_f16[i] has bit pattern (i - 32768) & 0xFFFF: the first non-finite is 0xFC00 (-inf) at i = 0x7C00.
        Assert.True(CheckpointTensor.TryFindNonFinite(special.Find("all_f16")!, out long index));
        Assert.Equal(0x7C00, index);
        Assert.True(CheckpointTensor.TryFindNonFinite(special.Find("all_bf16")!, out index));
        Assert.Equal(0x7F80, index);
        using ICheckpoint sd = CheckpointReader.Open(fx.PathOf("state_dict.pt"));
        foreach (CheckpointTensor t in sd.Tensors)
        {
            Assert.False(CheckpointTensor.TryFindNonFinite(t, out index));
            Assert.Equal(-1, index);
        }
        using ICheckpoint dtypes = CheckpointReader.Open(fx.PathOf("dtypes.onnx"));
        // double_data = [1/3, -2.5, 1e300]: 1e300 is finite as F64 but overflows to inf as float32.
        Assert.True(CheckpointTensor.TryFindNonFinite(dtypes.Find("double")!, out index));
        Assert.Equal(2, index);
    }
}
