using System.Buffers.Binary;

namespace EdgeTvq.Checkpoints.Protobuf;

/// <summary>
/// Protocol buffer wire types. A field starts with a varint tag = (field_number &lt;&lt; 3) | wire_type; varints are
/// little-endian base-128 (7 bits per byte, high bit = more), at most 10 bytes. Groups (wire types 3 and 4) are
/// deprecated and never written by ONNX; <see cref="ProtoReader"/> refuses them.
/// </summary>
public enum WireType
{
    Varint = 0,          // int32/int64/uint64/bool/enum
    Fixed64 = 1,         // double, fixed64
    LengthDelimited = 2, // string, bytes, embedded message, packed repeated scalars: varint length, then the bytes
    Fixed32 = 5,         // float, fixed32
}

/// <summary>
/// Builds the exception a <see cref="ProtoReader"/> throws for malformed input, so that each caller reports errors in
/// its own type (<see cref="CheckpointFormatException"/> for checkpoints, the runtime's OnnxModelException).
/// </summary>
/// <param name="path">The file being read, as the caller named it.</param>
/// <param name="tensor">The tensor involved, when known.</param>
/// <param name="offset">Absolute byte offset in the file where the problem was found.</param>
/// <param name="message">The complete detail, without the file name: what is wrong, where, and what to do.</param>
public delegate EdgeTvqInputException ProtoErrorFactory(string path, string? tensor, long offset, string message);

/// <summary>
/// A bounds-checked reader over one protobuf message held in a span (the whole file mapped or read into memory).
/// Positions are absolute offsets into that whole buffer (<see cref="Position"/>), so callers can point at raw_data in
/// place or copy whole fields byte for byte. Every length and varint is checked against the bytes left: hostile input
/// ends in the caller's exception type, never in an out-of-range read or a huge allocation.
/// </summary>
public ref struct ProtoReader
{
    private const int MaxVarintBytes = 10;

    private readonly ReadOnlySpan<byte> _data;
    private readonly int _base;
    private readonly string _path;
    private readonly string _message;
    private readonly ProtoErrorFactory _errors;
    private int _pos;

    /// <param name="data">The message's bytes.</param>
    /// <param name="baseOffset">Absolute offset of <paramref name="data"/> in the file.</param>
    /// <param name="path">The file, for error messages.</param>
    /// <param name="message">The message type being read ("ModelProto", "TensorProto"), for error messages.</param>
    /// <param name="errors">Builds the exception thrown for malformed input.</param>
    public ProtoReader(ReadOnlySpan<byte> data, int baseOffset, string path, string message, ProtoErrorFactory errors)
    {
        _data = data;
        _base = baseOffset;
        _path = path;
        _message = message;
        _errors = errors;
    }

    /// <summary>Absolute offset of the next unread byte.</summary>
    public readonly int Position => _base + _pos;

    public readonly bool AtEnd => _pos >= _data.Length;

    /// <summary>Reads the next tag; false at the end of the message.</summary>
    public bool TryReadTag(out int field, out WireType wireType) => TryReadTag(out field, out wireType, out _);

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
        switch (DecodeVarint(_data, ref _pos, out ulong value))
        {
            case VarintStatus.Ok: return value;
            case VarintStatus.Truncated: throw Truncated();
            default: throw Corrupt("has a varint longer than 64 bits");
        }
    }

    public ulong ReadFixed64()
    {
        if (_data.Length - _pos < 8) throw Truncated();
        ulong v = BinaryPrimitives.ReadUInt64LittleEndian(_data[_pos..]);
        _pos += 8;
        return v;
    }

    public uint ReadFixed32()
    {
        if (_data.Length - _pos < 4) throw Truncated();
        uint v = BinaryPrimitives.ReadUInt32LittleEndian(_data[_pos..]);
        _pos += 4;
        return v;
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

    /// <summary>A reader over an embedded message, reporting errors as <paramref name="message"/>.</summary>
    public ProtoReader ReadMessage(string message)
    {
        ReadOnlySpan<byte> payload = ReadLengthDelimited(out int start);
        return new ProtoReader(payload, start, _path, message, _errors);
    }

    /// <summary>A reader over <paramref name="payload"/> (found at absolute <paramref name="baseOffset"/>) with this reader's file and errors.</summary>
    public readonly ProtoReader Over(ReadOnlySpan<byte> payload, int baseOffset, string message) =>
        new(payload, baseOffset, _path, message, _errors);

    /// <summary>A length-delimited field as strict UTF-8.</summary>
    public string ReadString()
    {
        ReadOnlySpan<byte> bytes = ReadLengthDelimited(out _);
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (System.Text.DecoderFallbackException)
        {
            throw Corrupt("has a string that is not valid UTF-8");
        }
    }

    /// <summary>
    /// Reads a repeated integer field (int64, or int32 when <paramref name="int32"/>: sign-extended on the wire, so
    /// truncated back to 32 bits), either one varint or a packed run, appending to <paramref name="into"/>.
    /// </summary>
    public void ReadRepeatedVarints(WireType wireType, List<long> into, bool int32 = false)
    {
        if (wireType == WireType.Varint)
        {
            into.Add(ToInt(ReadVarint(), int32));
            return;
        }
        if (wireType != WireType.LengthDelimited) throw Corrupt($"has a repeated integer field with wire type {(int)wireType}");
        ReadOnlySpan<byte> run = ReadLengthDelimited(out int start);
        int p = 0;
        while (p < run.Length)
        {
            int at = p;
            switch (DecodeVarint(run, ref p, out ulong v))
            {
                case VarintStatus.Ok: into.Add(ToInt(v, int32)); break;
                case VarintStatus.Truncated: throw CorruptAt(start + at, "has a packed integer run that ends mid-varint");
                default: throw CorruptAt(start + at, "has a varint longer than 64 bits in a packed integer run");
            }
        }
    }

    /// <summary>
    /// Reads a repeated float (<paramref name="elementSize"/> 4, wire type fixed32) or double (8, fixed64) field,
    /// one value or a packed run, and returns its little-endian element bytes in place.
    /// </summary>
    public ReadOnlySpan<byte> ReadRepeatedFixed(WireType wireType, int elementSize)
    {
        if (elementSize is not (4 or 8)) throw new ArgumentOutOfRangeException(nameof(elementSize), elementSize, "fixed32 or fixed64 elements are 4 or 8 bytes");
        WireType single = elementSize == 4 ? WireType.Fixed32 : WireType.Fixed64;
        if (wireType == single)
        {
            if (_data.Length - _pos < elementSize) throw Truncated();
            ReadOnlySpan<byte> one = _data.Slice(_pos, elementSize);
            _pos += elementSize;
            return one;
        }
        if (wireType != WireType.LengthDelimited) throw Corrupt($"has a repeated float field with wire type {(int)wireType}");
        ReadOnlySpan<byte> payload = ReadLengthDelimited(out _);
        if (payload.Length % elementSize != 0)
            throw Corrupt($"has a packed {(elementSize == 4 ? "float" : "double")} run of {payload.Length} bytes, not a multiple of {elementSize}");
        return payload;
    }

    /// <summary>Skips the value of a field of wire type <paramref name="wireType"/>.</summary>
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

    /// <summary>An error for this message at the current position: "{message} {detail} (byte N)", then what to do.</summary>
    public readonly EdgeTvqInputException Corrupt(string detail, string? tensor = null) => CorruptAt(Position, detail, tensor);

    private readonly EdgeTvqInputException CorruptAt(long offset, string detail, string? tensor = null) => _errors(_path, tensor, offset,
        $"{_message} {detail} (byte {offset}). The ONNX file is corrupt; re-export it (torch.onnx.export / onnx.save_model).");

    private readonly EdgeTvqInputException Truncated() => _errors(_path, null, Position,
        $"{_message} ends in the middle of a field at byte {Position}. The file is truncated, corrupt or not an ONNX model; copy or re-export it.");

    private void Advance(int bytes)
    {
        if (_data.Length - _pos < bytes) throw Truncated();
        _pos += bytes;
    }

    private static readonly System.Text.UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    // int32 fields are sign-extended to 64 bits on the wire, so truncating to 32 bits recovers them.
    private static long ToInt(ulong v, bool int32) => int32 ? (int)(uint)v : (long)v;

    private enum VarintStatus { Ok, Truncated, TooLong }

    /// <summary>Decodes one varint at <paramref name="pos"/> (advanced past it when Ok); at most 10 bytes, at most 64 bits.</summary>
    private static VarintStatus DecodeVarint(ReadOnlySpan<byte> data, ref int pos, out ulong value)
    {
        value = 0;
        int p = pos;
        for (int i = 0; i < MaxVarintBytes; i++)
        {
            if (p >= data.Length) return VarintStatus.Truncated;
            byte b = data[p++];
            if (i == MaxVarintBytes - 1 && b > 1) return VarintStatus.TooLong;
            value |= (ulong)(b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0)
            {
                pos = p;
                return VarintStatus.Ok;
            }
        }
        return VarintStatus.TooLong; // unreachable: the 10th byte either ends the varint or is refused above
    }
}
