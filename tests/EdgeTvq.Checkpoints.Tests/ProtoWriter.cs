using System.Text;

namespace EdgeTvq.Checkpoints.Tests;

/// <summary>Minimal protobuf encoder to hand-craft (malformed) ONNX files.</summary>
internal sealed class ProtoWriter
{
    private readonly MemoryStream _ms = new();

    public ProtoWriter Varint(int field, ulong value) { Tag(field, 0); WriteVarint(value); return this; }

    public ProtoWriter Bytes(int field, byte[] value) { Tag(field, 2); WriteVarint((ulong)value.Length); _ms.Write(value); return this; }

    public ProtoWriter String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

    public ProtoWriter Message(int field, ProtoWriter inner) => Bytes(field, inner.ToArray());

    public ProtoWriter Fixed32(int field, float value) { Tag(field, 5); _ms.Write(BitConverter.GetBytes(value)); return this; }

    public ProtoWriter Raw(params byte[] bytes) { _ms.Write(bytes); return this; }

    public byte[] ToArray() => _ms.ToArray();

    private void Tag(int field, int wireType) => WriteVarint((ulong)(field << 3 | wireType));

    private void WriteVarint(ulong v)
    {
        while (v >= 0x80)
        {
            _ms.WriteByte((byte)(v | 0x80));
            v >>= 7;
        }
        _ms.WriteByte((byte)v);
    }

    /// <summary>ModelProto { ir_version 8, graph { initializer... }, opset_import { version 13 } }.</summary>
    public static byte[] Model(params ProtoWriter[] initializers)
    {
        var graph = new ProtoWriter().String(2, "g");
        foreach (ProtoWriter init in initializers) graph.Message(5, init);
        return new ProtoWriter().Varint(1, 8).Message(7, graph).Message(8, new ProtoWriter().Varint(2, 13)).ToArray();
    }

    /// <summary>TensorProto header: dims (unpacked), data_type, name.</summary>
    public static ProtoWriter Tensor(string name, int dataType, params long[] dims)
    {
        var t = new ProtoWriter();
        foreach (long d in dims) t.Varint(1, (ulong)d);
        return t.Varint(2, (ulong)dataType).String(8, name);
    }

    public static ProtoWriter Entry(string key, string value) => new ProtoWriter().String(1, key).String(2, value);
}
