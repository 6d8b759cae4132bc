using EdgeTvq.Checkpoints.Protobuf;
using Xunit;
using WireWriter = EdgeTvq.Checkpoints.Protobuf.ProtoWriter;

namespace EdgeTvq.Checkpoints.Tests;

/// <summary>The shared protobuf module (Protobuf/ProtoReader, ProtoWriter) on its own: round trips and hostile bytes.</summary>
public sealed class ProtoReaderTests
{
    private sealed class TestFormatException(string path, string? tensor, long offset, string message)
        : EdgeTvqInputException($"{path}: {message}", path, tensor, offset, null);

    private static readonly ProtoErrorFactory Errors = static (path, tensor, offset, message) => new TestFormatException(path, tensor, offset, message);

    private static ProtoReader Reader(byte[] bytes, int baseOffset = 0) => new(bytes, baseOffset, "m.onnx", "TensorProto", Errors);

    [Fact]
    public void Fields_written_by_ProtoWriter_read_back()
    {
        long[] dims = [3, 0, 1L << 40];
        int packedLength = dims.Sum(d => WireWriter.VarintSize((ulong)d));
        long size = WireWriter.VarintFieldSize(2, 1) + WireWriter.LengthDelimitedSize(8, 3)
                    + WireWriter.LengthDelimitedSize(1, packedLength) + WireWriter.VarintFieldSize(5, unchecked((ulong)-7L));
        var bytes = new byte[size];
        var w = new WireWriter(bytes);
        w.VarintField(2, 1);
        w.StringField(8, "w.0");
        w.LengthPrefix(1, packedLength);
        foreach (long d in dims) w.Varint((ulong)d);
        w.VarintField(5, unchecked((ulong)-7L)); // int32 -7: sign-extended to 10 bytes on the wire
        Assert.Equal(bytes.Length, w.Position);

        var r = Reader(bytes);
        var read = new List<long>();
        var ints = new List<long>();
        string? name = null;
        ulong dataType = 0;
        while (r.TryReadTag(out int field, out WireType wt, out int start))
        {
            Assert.True(start < bytes.Length);
            switch (field)
            {
                case OnnxFields.TensorDataType: dataType = r.ReadVarint(); break;
                case OnnxFields.TensorName: name = r.ReadString(); break;
                case OnnxFields.TensorDims: r.ReadRepeatedVarints(wt, read); break;
                case OnnxFields.TensorInt32Data: r.ReadRepeatedVarints(wt, ints, int32: true); break;
                default: r.Skip(wt); break;
            }
        }
        Assert.Equal(1UL, dataType);
        Assert.Equal("w.0", name);
        Assert.Equal(dims, read);
        Assert.Equal([-7L], ints);
    }

    [Fact]
    public void Packed_floats_are_returned_in_place()
    {
        byte[] payload = [.. BitConverter.GetBytes(1.5f), .. BitConverter.GetBytes(-2f)];
        byte[] bytes = [0x22, (byte)payload.Length, .. payload];
        var r = Reader(bytes);
        Assert.True(r.TryReadTag(out _, out WireType wt));
        Assert.Equal(payload, r.ReadRepeatedFixed(wt, sizeof(float)).ToArray());
        Assert.True(r.AtEnd);
    }

    public static TheoryData<string, byte[], string, long> Hostile => new()
    {
        { "truncated varint", [0x08, 0x80], "ends in the middle of a field", 1 },
        { "length past end", [0x4A, 0x7F, 0x00], "ends in the middle of a field", 2 },
        { "varint over 64 bits", [0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02], "longer than 64 bits", 1 },
        { "field zero", [0x00, 0x00], "field number 0", 1 },
        { "group wire type", [0x0B], "wire type 3", 1 },
        { "packed run ends mid-varint", [0x0A, 0x02, 0x05, 0x80], "packed integer run that ends mid-varint", 3 },
        { "packed float run not a multiple of 4", [0x22, 0x03, 0, 0, 0], "not a multiple of 4", 5 },
        { "float field as varint", [0x20, 0x01], "repeated float field with wire type 0", 1 },
        { "fixed32 past end", [0x25, 0x00, 0x00], "ends in the middle of a field", 1 },
        { "string not UTF-8", [0x42, 0x01, 0xFF], "not valid UTF-8", 3 },
    };

    [Theory]
    [MemberData(nameof(Hostile))]
    public void Hostile_bytes_raise_the_callers_exception_with_file_and_offset(string why, byte[] bytes, string expected, long offset)
    {
        var e = Assert.Throws<TestFormatException>(() => ReadTensor(bytes, baseOffset: 100));
        Assert.Equal("m.onnx", e.FilePath);
        Assert.True(e.Message.Contains(expected, StringComparison.Ordinal), $"{why}: '{e.Message}' lacks '{expected}'");
        Assert.Equal(100 + offset, e.Offset);
        Assert.Contains($"byte {100 + offset}", e.Message);
    }

    /// <summary>Reads a TensorProto the way the ONNX readers do.</summary>
    private static void ReadTensor(byte[] bytes, int baseOffset)
    {
        var r = Reader(bytes, baseOffset);
        var ints = new List<long>();
        while (r.TryReadTag(out int field, out WireType wt))
        {
            switch (field)
            {
                case OnnxFields.TensorDims: r.ReadRepeatedVarints(wt, ints); break;
                case OnnxFields.TensorFloatData: r.ReadRepeatedFixed(wt, sizeof(float)); break;
                case OnnxFields.TensorName: r.ReadString(); break;
                default: r.Skip(wt); break;
            }
        }
    }
}
