namespace EdgeTvq.Runtime.Inference;

/// <summary>
/// Protocol buffer wire types. A field starts with a varint tag = (field_number &lt;&lt; 3) | wire_type; varints are
/// little-endian base-128 (7 bits per byte, high bit = more), at most 10 bytes.
/// </summary>
internal enum WireType
{
    Varint = 0,          // int32/int64/uint64/bool/enum
    Fixed64 = 1,         // double, fixed64
    LengthDelimited = 2, // string, bytes, embedded message, packed repeated scalars: varint length, then the bytes
    Fixed32 = 5,         // float, fixed32
}

/// <summary>
/// A bounds-checked reader over one protobuf message. Positions are absolute offsets into the whole model buffer
/// (<see cref="Position"/>), so callers can copy whole fields byte for byte.
/// </summary>
internal ref struct ProtoReader
{
    private const int MaxVarintBytes = 10;

    private readonly ReadOnlySpan<byte> _data;
    private readonly int _base;
    private readonly string _path;
    private readonly string _message;
    private int _pos;

    public ProtoReader(ReadOnlySpan<byte> data, int baseOffset, string path, string message)
    {
        _data = data;
        _base = baseOffset;
        _path = path;
        _message = message;
    }

    /// <summary>Absolute offset of the next unread byte.</summary>
    public readonly int Position => _base + _pos;

    public readonly bool AtEnd => _pos >= _data.Length;

    /// <summary>Reads the next tag; false at the end of the message. <paramref name="fieldStart"/> is the tag's absolute offset.</summary>
    public bool TryReadTag(out int field, out WireType wireType, out int fieldStart)
    {
        fieldStart = Position;
        if (AtEnd)
        {
            field = 0;
            wireType = default;
            return false;
        }
        ulong tag = ReadVarint();
        field = (int)Math.Min(tag >> 3, int.MaxValue);
        wireType = (WireType)(tag & 7);
        if (field == 0) throw Corrupt("has field number 0");
        if (wireType is not (WireType.Varint or WireType.Fixed64 or WireType.LengthDelimited or WireType.Fixed32))
            throw Corrupt($"uses wire type {(int)wireType} for field {field}, which ONNX never writes");
        return true;
    }

    public ulong ReadVarint()
    {
        ulong result = 0;
        for (int i = 0; i < MaxVarintBytes; i++)
        {
            if (_pos >= _data.Length) throw Truncated();
            byte b = _data[_pos++];
            if (i == MaxVarintBytes - 1 && b > 1) throw Corrupt("has a varint longer than 64 bits");
            result |= (ulong)(b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0) return result;
        }
        throw Corrupt("has a varint longer than 10 bytes");
    }

    /// <summary>Reads a length-delimited payload; <paramref name="absoluteStart"/> is its offset in the whole buffer.</summary>
    public ReadOnlySpan<byte> ReadLengthDelimited(out int absoluteStart)
    {
        ulong length = ReadVarint();
        if (length > (ulong)(_data.Length - _pos)) throw Truncated();
        absoluteStart = Position;
        ReadOnlySpan<byte> payload = _data.Slice(_pos, (int)length);
        _pos += (int)length;
        return payload;
    }

    /// <summary>A reader over an embedded message.</summary>
    public ProtoReader ReadMessage(string message)
    {
        ReadOnlySpan<byte> payload = ReadLengthDelimited(out int start);
        return new ProtoReader(payload, start, _path, message);
    }

    public string ReadString()
    {
        ReadOnlySpan<byte> bytes = ReadLengthDelimited(out _);
        try
        {
            return new System.Text.UTF8Encoding(false, true).GetString(bytes);
        }
        catch (System.Text.DecoderFallbackException)
        {
            throw Corrupt("has a string that is not valid UTF-8");
        }
    }

    /// <summary>Reads an int64 field: one varint, or a packed run appended to <paramref name="into"/>.</summary>
    public void ReadInt64s(WireType wireType, List<long> into)
    {
        if (wireType == WireType.Varint)
        {
            into.Add((long)ReadVarint());
            return;
        }
        if (wireType != WireType.LengthDelimited) throw Corrupt($"has a repeated integer field with wire type {(int)wireType}");
        var packed = ReadMessage(_message + " packed integers");
        while (!packed.AtEnd) into.Add((long)packed.ReadVarint());
    }

    public void Skip(WireType wireType)
    {
        switch (wireType)
        {
            case WireType.Varint: ReadVarint(); break;
            case WireType.LengthDelimited: ReadLengthDelimited(out _); break;
            case WireType.Fixed64: Advance(8); break;
            case WireType.Fixed32: Advance(4); break;
            default: throw Corrupt($"uses unsupported wire type {(int)wireType}");
        }
    }

    private void Advance(int bytes)
    {
        if (_data.Length - _pos < bytes) throw Truncated();
        _pos += bytes;
    }

    public readonly OnnxModelException Corrupt(string detail, string? tensor = null) => new(_path, tensor,
        $"{_message} {detail} (byte {Position}). The ONNX file is corrupt; re-export it (torch.onnx.export / onnx.save_model).");

    private readonly OnnxModelException Truncated() => new(_path, null,
        $"{_message} ends in the middle of a field at byte {Position}. The file is truncated or not an ONNX model.");
}
