using System.Text;
using EdgeTvq.Fuzz.Mutation;
using static EdgeTvq.Fuzz.Mutation.Proto;

namespace EdgeTvq.Fuzz.Seeds;

/// <summary>Hand-built ONNX ModelProtos (as tests/EdgeTvq.Checkpoints.Tests/ProtoWriter.cs): initializers in every data field, external data, a node.</summary>
public static class OnnxSeeds
{
    public const string ExternalFile = "weights.bin";

    private static Field V(int n, ulong v) => new() { Number = n, Wire = 0, Value = v };
    private static Field S(int n, string s) => new() { Number = n, Wire = 2, Bytes = Encoding.UTF8.GetBytes(s) };
    private static Field B(int n, byte[] b) => new() { Number = n, Wire = 2, Bytes = b };
    private static Field M(int n, params Field[] fields) => new() { Number = n, Wire = 2, Message = new Proto { Fields = [.. fields] } };
    private static byte[] Floats(params float[] v) => v.SelectMany(BitConverter.GetBytes).ToArray();
    private static byte[] Packed(params long[] v)
    {
        var ms = new MemoryStream();
        foreach (long x in v) WriteVarint(ms, (ulong)x);
        return ms.ToArray();
    }

    /// <summary>TensorProto: dims, data_type, name, then the data fields.</summary>
    private static Field Tensor(string name, int dataType, long[] dims, params Field[] data) =>
        M(5, [.. dims.Select(d => V(1, (ulong)d)), V(2, (ulong)dataType), S(8, name), .. data]);

    private static byte[] Model(params Field[] graphFields) => new Proto
    {
        Fields =
        [
            V(1, 8), S(2, "edgetvq-fuzz"),
            M(7, [S(2, "g"), .. graphFields,
                M(11, S(1, "x"), M(2, M(1, V(1, 1), M(2, M(1, V(1, 1)), M(1, V(1, 2)))))), // input x: float [1, 2]
                M(12, S(1, "y")),
                M(1, S(1, "x"), S(1, "w"), S(2, "y"), S(4, "MatMul"))]),
            M(8, S(1, ""), V(2, 13)),
        ],
    }.Serialize();

    public static IReadOnlyList<byte[]> Models(string scratch)
    {
        WriteExternalData(scratch);
        return
        [
            Model(Tensor("w", 1, [2, 3], B(9, Floats(1, 2, 3, 4, 5, 6))), Tensor("b", 1, [3], B(4, Floats(0.5f, -1, 2))),
                  Tensor("shape", 7, [2], B(7, Packed(1, -1))), Tensor("h", 10, [2], B(5, Packed(0x3c00, 0xc000)))),
            Model(Tensor("w", 1, [2, 3], V(14, 1), M(13, S(1, "location"), S(2, ExternalFile)), M(13, S(1, "offset"), S(2, "0")),
                      M(13, S(1, "length"), S(2, "24"))),
                  Tensor("d", 11, [1], B(10, BitConverter.GetBytes(2.5))), Tensor("i", 6, [2], B(9, new byte[8]))),
        ];
    }

    /// <summary>The external data file the seed models point at, and link.bin → /dev/zero beside it.</summary>
    public static void WriteExternalData(string dir)
    {
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, ExternalFile);
        if (!File.Exists(path)) File.WriteAllBytes(path, Floats(1, 2, 3, 4, 5, 6, 7, 8));
        // A symlink to /dev/zero inside the model's folder, which mutated external_data locations may name.
        string link = Path.Combine(dir, "link.bin");
        if (!File.Exists(link) && !Directory.Exists(link))
            try { File.CreateSymbolicLink(link, "/dev/zero"); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
