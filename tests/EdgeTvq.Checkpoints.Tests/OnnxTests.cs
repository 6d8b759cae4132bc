using Xunit;

namespace EdgeTvq.Checkpoints.Tests;

[Collection(PythonCheckpointsCollection.Name)]
public sealed class OnnxTests(PythonCheckpoints fx)
{
    private const int Float = 1, String = 8;

    [Fact]
    public void External_data_is_memory_mapped_next_to_the_model()
    {
        using var dir = new TempDir();
        File.Copy(fx.PathOf("external/model.onnx"), dir.File("model.onnx"));
        File.Copy(fx.PathOf("external/model.onnx.data"), dir.File("model.onnx.data"));
        using (ICheckpoint ckpt = CheckpointReader.Open(dir.File("model.onnx")))
            TensorAssert.Matches(fx.Reference["external/model.onnx"], ckpt);

        File.Delete(dir.File("model.onnx.data"));
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(dir.File("model.onnx")));
        Assert.Contains("model.onnx.data", e.Message);
        Assert.Contains("not found", e.Message);
        Assert.NotNull(e.TensorName);

        File.WriteAllBytes(dir.File("model.onnx.data"), new byte[100]);
        e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(dir.File("model.onnx")));
        Assert.Contains("beyond the end", e.Message);
    }

    private static ProtoWriter External(string location, long? offset = null, long? length = null)
    {
        var t = ProtoWriter.Tensor("w", Float, 2).Message(13, ProtoWriter.Entry("location", location));
        if (offset is not null) t.Message(13, ProtoWriter.Entry("offset", offset.Value.ToString()));
        if (length is not null) t.Message(13, ProtoWriter.Entry("length", length.Value.ToString()));
        return t.Varint(14, 1);
    }

    public static TheoryData<string, byte[], string> Malformed => new()
    {
        { "path traversal", ProtoWriter.Model(External("../secret.bin")), "outside the model's folder" },
        { "absolute path", ProtoWriter.Model(External("/etc/passwd")), "outside the model's folder" },
        { "NUL in location", ProtoWriter.Model(External("w.bin\0x")), "NUL character" },
        { "length mismatch", ProtoWriter.Model(External("w.bin", 0, 4)), "need 8" },
        { "offset beyond file", ProtoWriter.Model(External("w.bin", 12)), "beyond the end" },
        { "bad offset text", ProtoWriter.Model(ProtoWriter.Tensor("w", Float, 2).Message(13, ProtoWriter.Entry("location", "w.bin")).Message(13, ProtoWriter.Entry("offset", "-1")).Varint(14, 1)), "not a non-negative integer" },
        { "no location", ProtoWriter.Model(ProtoWriter.Tensor("w", Float, 2).Varint(14, 1)), "location" },
        { "raw_data size", ProtoWriter.Model(ProtoWriter.Tensor("w", Float, 2, 2).Bytes(9, new byte[12])), "raw_data holds 12 bytes" },
        { "float_data count", ProtoWriter.Model(ProtoWriter.Tensor("w", Float, 3).Fixed32(4, 1f).Fixed32(4, 2f)), "float_data" },
        { "no data", ProtoWriter.Model(ProtoWriter.Tensor("w", Float, 3)), "float_data" },
        { "string tensor", ProtoWriter.Model(ProtoWriter.Tensor("w", String, 1)), "STRING" },
        { "duplicate names", ProtoWriter.Model(ProtoWriter.Tensor("w", Float, 1).Fixed32(4, 1f), ProtoWriter.Tensor("w", Float, 1).Fixed32(4, 2f)), "unique" },
        { "no graph", new ProtoWriter().Varint(1, 8).ToArray(), "no graph" },
        { "truncated varint", [0x08, 0x80], "ends in the middle" },
        { "length past end", [0x3A, 0x7F, 0x00], "ends in the middle" },
        { "field zero", [0x00, 0x00], "field number 0" },
        { "group wire type", [0x0B], "wire type 3" },
        { "packed dims end mid-varint", ProtoWriter.Model(new ProtoWriter().Bytes(1, [0x02, 0x80]).Varint(2, Float).String(8, "w")), "ends mid-varint" },
        { "sparse initializer", new ProtoWriter().Message(7, new ProtoWriter().Bytes(15, [])).Message(8, new ProtoWriter()).ToArray(), "sparse" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_onnx_raises_CheckpointFormatException(string why, byte[] model, string expected)
    {
        using var dir = new TempDir();
        dir.Write("w.bin", new byte[8]);
        string path = dir.Write("m.onnx", model);
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(path));
        Assert.Equal(path, e.FilePath);
        Assert.StartsWith(path, e.Message);
        Assert.True(e.Message.Contains(expected, StringComparison.Ordinal), $"{why}: '{e.Message}' lacks '{expected}'");
    }

    [Fact]
    public void Hand_built_external_tensor_with_offset_reads()
    {
        using var dir = new TempDir();
        var data = new byte[16];
        BitConverter.GetBytes(2.5f).CopyTo(data, 8);
        BitConverter.GetBytes(-1f).CopyTo(data, 12);
        dir.Write("w.bin", data);
        string path = dir.Write("m.onnx", ProtoWriter.Model(External("w.bin", 8, 8)));
        using ICheckpoint ckpt = CheckpointReader.Open(path);
        Assert.Equal([2.5f, -1f], ckpt.Find("w")!.ToFloat32Array());
    }

    [Fact]
    public void Unknown_content_without_onnx_extension_says_it_is_unrecognised()
    {
        using var dir = new TempDir();
        string path = dir.Write("notes.txt", "hello, this is not a checkpoint"u8.ToArray());
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(path));
        Assert.Contains("not a recognised checkpoint", e.Message);
        Assert.Throws<FileNotFoundException>(() => CheckpointReader.Open(dir.File("missing.onnx")));
    }
}
