using System.Buffers.Binary;
using System.Text;
using CsCheck;
using Xunit;

namespace EdgeTvq.Checkpoints.Tests;

public sealed class SafetensorsTests
{
    private static readonly TensorDType[] AllDTypes = Enum.GetValues<TensorDType>();

    private static int SizeOf(TensorDType d) => d switch
    {
        TensorDType.F64 or TensorDType.I64 => 8,
        TensorDType.F32 or TensorDType.I32 => 4,
        TensorDType.F16 or TensorDType.BF16 or TensorDType.I16 => 2,
        _ => 1,
    };

    [Fact]
    public void Writer_reader_round_trip_property()
    {
        var genTensor =
            from dtype in Gen.Enum<TensorDType>()
            from shape in Gen.Long[0, 4].Array[0, 3]
            from seed in Gen.Int
            select (dtype, shape, seed);
        var genFile =
            from tensors in genTensor.Array[0, 6]
            from meta in Gen.Int[0, 1000].Array[0, 3]
            select (tensors, meta);

        using var dir = new TempDir();
        int file = 0;
        genFile.Sample(t =>
        {
            var (specs, meta) = t;
            var tensors = specs.Select((s, i) =>
            {
                long count = s.shape.Aggregate(1L, (a, b) => a * b);
                var data = new byte[count * SizeOf(s.dtype)];
                new Random(s.seed).NextBytes(data);
                if (s.dtype == TensorDType.Bool) for (int k = 0; k < data.Length; k++) data[k] &= 1;
                return (Name: $"layer{i}.ü.weight", s.dtype, s.shape, Data: (ReadOnlyMemory<byte>)data);
            }).ToList();
            var metadata = meta.Distinct().ToDictionary(m => "k" + m, m => "v\"" + m);
            string path = dir.File($"p{file++}.safetensors");
            SafetensorsWriter.Write(path, tensors, metadata);

            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(File.ReadAllBytes(path).AsSpan(0, 8));
            Assert.Equal(0ul, headerLength % 8);
            using ICheckpoint ckpt = CheckpointReader.Open(path);
            Assert.Equal("safetensors", ckpt.Format);
            Assert.Equal(tensors.Count, ckpt.Tensors.Count);
            for (int i = 0; i < tensors.Count; i++)
            {
                CheckpointTensor r = ckpt.Tensors[i];
                Assert.Equal(tensors[i].Name, r.Name);
                Assert.Equal(tensors[i].dtype, r.DType);
                Assert.Equal(tensors[i].shape, r.Shape);
                Assert.True(tensors[i].Data.Span.SequenceEqual(r.RawBytes));
            }
        }, iter: 150);
    }

    [Fact]
    public void WriteFloat32_round_trips_values_and_is_read_by_layout()
    {
        using var dir = new TempDir();
        string path = dir.File("f.safetensors");
        float[] a = [1.5f, -0f, float.Epsilon, float.MaxValue, 3.25f, -7f];
        SafetensorsWriter.WriteFloat32(path, [("a", [2, 3], a), ("s", [], [42f]), ("e", [0, 5], [])], new Dictionary<string, string> { ["format"] = "pt" });
        using ICheckpoint ckpt = CheckpointReader.Open(path);
        Assert.Equal(["a", "s", "e"], ckpt.Tensors.Select(t => t.Name));
        Assert.Equal(a, ckpt.Find("a")!.ToFloat32Array());
        Assert.Equal([42f], ckpt.Find("s")!.ToFloat32Array());
        Assert.Empty(ckpt.Find("s")!.Shape);
        Assert.Empty(ckpt.Find("e")!.ToFloat32Array());

        string header = Encoding.UTF8.GetString(File.ReadAllBytes(path), 8, (int)BinaryPrimitives.ReadUInt64LittleEndian(File.ReadAllBytes(path)));
        Assert.StartsWith("{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}", header);
    }

    [Fact]
    public void Writer_rejects_inconsistent_input()
    {
        using var dir = new TempDir();
        string path = dir.File("w.safetensors");
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.WriteFloat32(path, [("a", [3], new float[2])]));
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.WriteFloat32(path, [("a", [1], [1f]), ("a", [1], [2f])]));
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.WriteFloat32(path, [("__metadata__", [1], [1f])]));
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.WriteFloat32(path, [("a", [-1], [])]));
        Assert.False(File.Exists(path));
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void Half_widening_matches_System_Half_for_every_bit_pattern()
    {
        using var dir = new TempDir();
        string path = dir.File("all.safetensors");
        var bits = new byte[65536 * 2];
        for (int i = 0; i < 65536; i++) BinaryPrimitives.WriteUInt16LittleEndian(bits.AsSpan(i * 2), (ushort)i);
        SafetensorsWriter.Write(path, [("h", TensorDType.F16, [65536], bits), ("b", TensorDType.BF16, [65536], bits)]);
        using ICheckpoint ckpt = CheckpointReader.Open(path);
        float[] h = ckpt.Find("h")!.ToFloat32Array(), b = ckpt.Find("b")!.ToFloat32Array();
        for (int i = 0; i < 65536; i++)
        {
            float expectedHalf = (float)BitConverter.UInt16BitsToHalf((ushort)i);
            Assert.Equal(BitConverter.SingleToUInt32Bits(expectedHalf), BitConverter.SingleToUInt32Bits(h[i]));
            Assert.Equal((uint)i << 16, BitConverter.SingleToUInt32Bits(b[i]));
        }
    }

    // ---- malformed files: each must raise CheckpointFormatException naming the file ----

    private static byte[] File8(string headerJson, int dataBytes, ulong? lengthOverride = null, byte[]? rawHeader = null)
    {
        byte[] header = rawHeader ?? Encoding.UTF8.GetBytes(headerJson);
        var bytes = new byte[8 + header.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, lengthOverride ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        return bytes;
    }

    private const string A8 = "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";

    public static TheoryData<string, byte[], string?, string> Malformed => new()
    {
        { "header length > file", File8("{" + A8 + "}", 8, lengthOverride: 1000), null, "header length" },
        { "overlap", File8("{" + A8 + ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12), "b", "overlap" },
        { "gap", File8("{" + A8 + ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20), "b", "belong to no tensor" },
        { "trailing bytes", File8("{" + A8 + "}", 12), null, "trailing" },
        { "bad dtype", File8("{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2), "a", "F8_E4M3" },
        { "shape/size mismatch", File8("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8), "a", "needs 12 bytes" },
        { "offsets beyond data", File8("{" + A8 + "}", 4), "a", "past the 4-byte data buffer" },
        { "end before begin", File8("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8), "a", "end before" },
        { "non-UTF-8", File8("", 0, rawHeader: [(byte)'{', (byte)'"', 0xFF, (byte)'"', (byte)':', (byte)'1', (byte)'}']), null, "UTF-8" },
        { "invalid JSON", File8("{\"a\":{\"dtype\":\"F32\",", 0), null, "JSON" },
        { "two JSON values", File8("{}{}", 0), null, "JSON" },
        { "negative dim", File8("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0), "a", "non-negative" },
        { "fractional dim", File8("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,0]}}", 0), "a", "non-negative integers" },
        { "overflowing shape", File8("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0), "a", "overflow" },
        { "duplicate name", File8("{" + A8 + "," + A8 + "}", 8), "a", "twice" },
        { "missing offsets", File8("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 0), "a", "data_offsets" },
        { "three offsets", File8("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4,8]}}", 8), "a", "[begin, end]" },
        { "metadata not strings", File8("{\"__metadata__\":{\"x\":1}}", 0), null, "__metadata__" },
        { "header not an object", File8("[1,2]   ", 0), null, "'{'" },
        { "entry not an object", File8("{\"a\":5}", 0), "a", "StartObject" },
        { "shorter than 8 bytes", [1, 2, 3], null, "8-byte" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_files_raise_CheckpointFormatException(string why, byte[] content, string? tensor, string expected)
    {
        using var dir = new TempDir();
        string path = dir.Write("bad.safetensors", content);
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(path));
        Assert.Equal(path, e.FilePath);
        Assert.StartsWith(path, e.Message);
        Assert.True(e.Message.Contains(expected, StringComparison.Ordinal), $"{why}: '{e.Message}' lacks '{expected}'");
        Assert.Equal(tensor, e.TensorName);
        if (tensor is not null) Assert.Contains($"'{tensor}'", e.Message);
    }

    [Fact]
    public void Tensors_are_unreadable_after_dispose()
    {
        using var dir = new TempDir();
        string path = dir.File("d.safetensors");
        SafetensorsWriter.WriteFloat32(path, [("a", [1], [1f])]);
        ICheckpoint ckpt = CheckpointReader.Open(path);
        CheckpointTensor a = ckpt.Tensors[0];
        ckpt.Dispose();
        Assert.Throws<ObjectDisposedException>(() => a.ToFloat32Array());
    }
}
