using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using EdgeTvq.Runtime.Output;

namespace EdgeTvq.Runtime.Tests.ImageOps;

public sealed class NpyFileTests
{
    static float[] Floats(int n) => [.. Enumerable.Range(0, n).Select(i => (float)Math.Sin(i * 0.7) * 1000f - i)];
    static int[] Ints(int n) => [.. Enumerable.Range(0, n).Select(i => (i * 7919) ^ (i % 2 == 0 ? int.MinValue : 12345))];

    public static TheoryData<int[]> Shapes => new() { new[] { 2, 3, 4 }, new[] { 5 }, Array.Empty<int>(), new[] { 0, 3 }, new[] { 1, 1, 7, 1 } };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void RoundTrip_KeepsDtypeShapeAndValues(int[] shape)
    {
        int n = shape.Aggregate(1, (a, b) => a * b);
        using var dir = new ImageOpsReference.Scratch();
        float[] f = Floats(n);
        int[] i = Ints(n);
        NpyFile.Write(dir.File("f.npy"), f, shape);
        NpyFile.Write(dir.File("i.npy"), i, shape);
        NpyArray rf = NpyFile.Read(dir.File("f.npy")), ri = NpyFile.Read(dir.File("i.npy"));
        Assert.Equal("<f4", rf.Dtype);
        Assert.Equal("<i4", ri.Dtype);
        Assert.Equal(shape, rf.Shape);
        Assert.Equal(shape, ri.Shape);
        Assert.Equal(f, rf.Floats);
        Assert.Equal(i, ri.Ints);
        Assert.Null(rf.Ints);
        Assert.Empty(Directory.GetFiles(dir.Path, ".*tmp*"));
    }

    [Fact]
    public void Header_IsVersion1PaddedTo64Bytes()
    {
        byte[] bytes = NpyFile.Encode(new float[] { 1.5f, -2f }, [2]);
        Assert.Equal(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0 }, bytes[..8]);
        int headerLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8));
        Assert.Equal(0, (10 + headerLength) % 64);
        Assert.Equal(10 + headerLength + 8, bytes.Length);
        string header = Encoding.ASCII.GetString(bytes, 10, headerLength);
        Assert.StartsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", header);
        Assert.EndsWith("\n", header);
        Assert.Equal(1.5f, BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(10 + headerLength)));
    }

    /// <summary>numpy.load reads what we write: dtype, shape and the exact bytes of the values.</summary>
    [Fact]
    public void NumpyLoad_ReadsOurFiles()
    {
        using var dir = new ImageOpsReference.Scratch();
        var expected = new List<string>();
        int k = 0;
        foreach (int[] shape in new[] { new[] { 2, 3, 4 }, new[] { 5 }, Array.Empty<int>(), new[] { 0, 3 }, new[] { 3, 1, 130 } })
        {
            int n = shape.Aggregate(1, (a, b) => a * b);
            string shapeText = "(" + string.Join(", ", shape) + (shape.Length == 1 ? ",)" : ")");
            float[] f = Floats(n);
            int[] i = Ints(n);
            NpyFile.Write(dir.File($"{k}_f.npy"), f, shape);
            NpyFile.Write(dir.File($"{k}_i.npy"), i, shape);
            expected.Add($"{k}_f.npy float32 {shapeText} {Sha(f.SelectMany(BitConverter.GetBytes))}");
            expected.Add($"{k}_i.npy int32 {shapeText} {Sha(i.SelectMany(BitConverter.GetBytes))}");
            k++;
        }
        const string check = """
            import hashlib, os, sys
            import numpy as np
            d = sys.argv[1]
            for name in sorted(os.listdir(d)):
                with open(os.path.join(d, name), "rb") as fh:
                    assert np.lib.format.read_magic(fh) == (1, 0)
                    np.lib.format.read_array_header_1_0(fh)
                a = np.load(os.path.join(d, name), allow_pickle=False)
                assert a.flags["C_CONTIGUOUS"]
                print(name, a.dtype, a.shape, hashlib.sha256(a.astype(a.dtype.newbyteorder("<")).tobytes()).hexdigest())
            """;
        string[] lines = ImageOpsReference.RunPython(check, dir.Path).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(expected.Order(StringComparer.Ordinal), lines.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Decode_RefusesOtherDtypesAndBadSizes()
    {
        byte[] good = NpyFile.Encode(new int[] { 1, 2, 3 }, [3]);
        byte[] f8 = (byte[])good.Clone();
        int at = Encoding.ASCII.GetString(f8).IndexOf("<i4", StringComparison.Ordinal);
        f8[at + 1] = (byte)'f';
        f8[at + 2] = (byte)'8';
        Assert.Contains("<f8", Assert.Throws<InvalidDataException>(() => NpyFile.Decode(f8)).Message);
        Assert.Throws<InvalidDataException>(() => NpyFile.Decode(good.AsSpan(0, good.Length - 1)));
        Assert.Throws<InvalidDataException>(() => NpyFile.Decode("not numpy"u8));
        Assert.Throws<ArgumentException>(() => NpyFile.Encode(new float[5], [2, 3]));
    }

    [Fact]
    public void Read_NumPysUint8Int16AndFortranOrder_WholeAndSlicedAlongTheFirstAxis()
    {
        using var dir = new ImageOpsReference.Scratch();
        const string write = """
            import sys, numpy as np
            d = sys.argv[1]
            np.save(d + "/u1.npy", (np.arange(4 * 3 * 2 * 3) * 37 % 256).astype(np.uint8).reshape(4, 3, 2, 3))
            np.save(d + "/i2.npy", (np.arange(4 * 6) * 1000 - 12000).astype(np.int16).reshape(4, 2, 3))
            np.save(d + "/fortran.npy", np.asfortranarray(np.arange(24, dtype=np.float32).reshape(2, 3, 4)))
            """;
        ImageOpsReference.RunPython(write, dir.Path);
        byte[] u1 = Enumerable.Range(0, 72).Select(i => (byte)(i * 37 % 256)).ToArray();
        int[] i2 = Enumerable.Range(0, 24).Select(i => i * 1000 - 12000).ToArray();

        var whole = NpyFile.Read(dir.File("u1.npy"));
        Assert.Equal("|u1", whole.Dtype);
        Assert.Equal([4, 3, 2, 3], whole.Shape);
        Assert.Equal(u1, whole.Bytes);
        Assert.Null(whole.Floats);
        var shorts = NpyFile.Read(dir.File("i2.npy"));
        Assert.Equal("<i2", shorts.Dtype);
        Assert.Equal(i2, shorts.Ints);

        var slice = NpyFile.Read(dir.File("u1.npy"), first: 1, count: 2);
        Assert.Equal([2, 3, 2, 3], slice.Shape);
        Assert.Equal(u1[18..54], slice.Bytes);
        var tail = NpyFile.Read(dir.File("i2.npy"), first: 3, count: 5); // clamped to the one item left
        Assert.Equal([1, 2, 3], tail.Shape);
        Assert.Equal(i2[18..], tail.Ints);
        Assert.Empty(NpyFile.Read(dir.File("i2.npy"), first: 4, count: 1).Ints!);
        Assert.Throws<ArgumentOutOfRangeException>(() => NpyFile.Read(dir.File("i2.npy"), first: 5, count: 1));

        var fortran = NpyFile.Read(dir.File("fortran.npy"));
        Assert.Equal([2, 3, 4], fortran.Shape);
        Assert.Equal(Enumerable.Range(0, 24).Select(i => (float)i), fortran.Floats!); // returned in C order
        Assert.Contains("Fortran", Assert.Throws<InvalidDataException>(() => NpyFile.Read(dir.File("fortran.npy"), 0, 1)).Message);

        NpyFile.Write(dir.File("f.npy"), Floats(12), [3, 4]);
        Assert.Equal(Floats(12)[4..12], NpyFile.Read(dir.File("f.npy"), 1, 2).Floats);
        File.WriteAllBytes(dir.File("short.npy"), File.ReadAllBytes(dir.File("f.npy"))[..^1]);
        Assert.Contains("data bytes", Assert.Throws<InvalidDataException>(() => NpyFile.Read(dir.File("short.npy"), 0, 1)).Message);
    }

    static string Sha(IEnumerable<byte> bytes) => Convert.ToHexString(SHA256.HashData(bytes.ToArray())).ToLowerInvariant();
}
