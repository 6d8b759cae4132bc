using System.Text;

namespace EdgeTvq.Checkpoints.Protobuf;

/// <summary>
/// Writes protobuf fields into a buffer sized in advance (the runtime's OnnxModelRewriter computes every message length first, so a
/// model of N bytes is written into exactly one N-byte array, with no growing and no final copy).
/// <code>
/// field  = tag payload            tag = varint((field_number &lt;&lt; 3) | wire_type)
/// varint : 7 bits per byte, least significant group first, high bit set on every byte but the last
/// length-delimited payload = varint(length) bytes
/// </code>
/// </summary>
public ref struct ProtoWriter
{
    private readonly Span<byte> _buffer;
    private int _pos;

    public ProtoWriter(Span<byte> buffer) => _buffer = buffer;

    public readonly int Position => _pos;

    /// <summary>Bytes of <paramref name="value"/> as a varint (1 to 10).</summary>
    public static int VarintSize(ulong value)
    {
        int n = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            n++;
        }
        return n;
    }

    public static int TagSize(int field) => VarintSize((ulong)field << 3);

    /// <summary>Bytes of a whole varint field: tag and value.</summary>
    public static int VarintFieldSize(int field, ulong value) => TagSize(field) + VarintSize(value);

    /// <summary>Bytes of a whole length-delimited field: tag, length and payload.</summary>
    public static long LengthDelimitedSize(int field, long payloadLength) =>
        checked(TagSize(field) + VarintSize((ulong)payloadLength) + payloadLength);

    public void Tag(int field, WireType wireType) => Varint(((ulong)field << 3) | (uint)wireType);

    public void Varint(ulong value)
    {
        while (value >= 0x80)
        {
            _buffer[_pos++] = (byte)(value | 0x80);
            value >>= 7;
        }
        _buffer[_pos++] = (byte)value;
    }

    public void VarintField(int field, ulong value)
    {
        Tag(field, WireType.Varint);
        Varint(value);
    }

    /// <summary>Tag and length of a length-delimited field whose payload the caller writes next.</summary>
    public void LengthPrefix(int field, long payloadLength)
    {
        Tag(field, WireType.LengthDelimited);
        Varint((ulong)payloadLength);
    }

    public void BytesField(int field, ReadOnlySpan<byte> payload)
    {
        LengthPrefix(field, payload.Length);
        Raw(payload);
    }

    public void StringField(int field, string value) => BytesField(field, Encoding.UTF8.GetBytes(value));

    /// <summary>Copies already-encoded bytes (whole fields taken from the source model).</summary>
    public void Raw(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(_buffer[_pos..]);
        _pos += bytes.Length;
    }

    /// <summary>The next <paramref name="length"/> bytes, for the caller to fill (e.g. raw_data read from a file).</summary>
    public Span<byte> Take(int length)
    {
        Span<byte> span = _buffer.Slice(_pos, length);
        _pos += length;
        return span;
    }
}
