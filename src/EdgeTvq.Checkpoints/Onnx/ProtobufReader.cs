namespace EdgeTvq.Checkpoints.Onnx;

/// <summary>
/// Protocol buffer wire types. A field starts with a varint tag = (field_number &lt;&lt; 3) | wire_type.
/// Varints are little-endian base-128 (7 bits per byte, high bit = more), at most 10 bytes.
/// </summary>
internal enum WireType
{
    Varint = 0,          // int32/int64/uint64/bool/enum
    Fixed64 = 1,         // double, fixed64
    LengthDelimited = 2, // string, bytes, embedded message, packed repeated scalars: varint length + bytes
    StartGroup = 3,      // deprecated groups: not used by ONNX
    EndGroup = 4,
    Fixed32 = 5,         // float, fixed32
}

/// <summary>A bounds-checked reader over one protobuf message held in <see cref="Span"/>, positions relative to <see cref="BaseOffset"/>.</summary>
internal ref struct ProtobufReader
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly string _path;
    private readonly string _message;
    private int _pos;

    public ProtobufReader(ReadOnlySpan<byte> data, int baseOffset, string path, string message)
    {
        _data = data;
        BaseOffset = baseOffset;
        _path = path;
        _message = message;
        _pos = 0;
    }

    public readonly ReadOnlySpan<byte> Span => _data;
    public int BaseOffset { get; }
    public readonly bool AtEnd => _pos >= _data.Length;

    /// <summary>Reads the next tag; false at the end of the message.</summary>
    public bool TryReadTag(out int field, out WireType wireType)
    {
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
        for (int shift = 0; shift < 70; shift += 7)
        {
            if (_pos >= _data.Length) throw Truncated();
            byte b = _data[_pos++];
            if (shift == 63 && b > 1) throw Corrupt("has a varint longer than 64 bits");
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw Corrupt("has a varint longer than 10 bytes");
    }

    public ulong ReadFixed64()
    {
        if (_data.Length - _pos < 8) throw Truncated();
        ulong v = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(_data[_pos..]);
        _pos += 8;
        return v;
    }

    public uint ReadFixed32()
    {
        if (_data.Length - _pos < 4) throw Truncated();
        uint v = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(_data[_pos..]);
        _pos += 4;
        return v;
    }

    /// <summary>Reads a length-delimited payload; <paramref name="absoluteStart"/> is its offset in the whole buffer.</summary>
    public ReadOnlySpan<byte> ReadLengthDelimited(out int absoluteStart)
    {
        ulong length = ReadVarint();
        if (length > (ulong)(_data.Length - _pos)) throw Truncated();
        absoluteStart = BaseOffset + _pos;
        var payload = _data.Slice(_pos, (int)length);
        _pos += (int)length;
        return payload;
    }

    /// <summary>A reader for an embedded message payload.</summary>
    public ProtobufReader ReadMessage(string message)
    {
        var payload = ReadLengthDelimited(out int start);
        return new ProtobufReader(payload, start, _path, message);
    }

    public string ReadString()
    {
        var bytes = ReadLengthDelimited(out _);
        try
        {
            return new System.Text.UTF8Encoding(false, true).GetString(bytes);
        }
        catch (System.Text.DecoderFallbackException)
        {
            throw Corrupt("has a string that is not valid UTF-8");
        }
    }

    public void Skip(WireType wireType)
    {
        switch (wireType)
        {
            case WireType.Varint: ReadVarint(); break;
            case WireType.Fixed64: ReadFixed64(); break;
            case WireType.Fixed32: ReadFixed32(); break;
            case WireType.LengthDelimited: ReadLengthDelimited(out _); break;
            default: throw Corrupt($"uses unsupported wire type {(int)wireType}");
        }
    }

    public readonly CheckpointFormatException Corrupt(string detail, string? tensor = null) => CheckpointFormatException.Create(_path, tensor,
        $"{_message} {detail} (byte {BaseOffset + _pos}). The ONNX file is corrupt; re-export it (torch.onnx.export / onnx.save_model).");

    private readonly CheckpointFormatException Truncated() => CheckpointFormatException.Create(_path, null,
        $"{_message} ends in the middle of a field at byte {BaseOffset + _pos}. The ONNX file is truncated or corrupt; copy or re-export it.");
}
