using System.Buffers;
using System.Buffers.Binary;
using EdgeTvq.Packing;
using EdgeTvq.Quantization;

namespace EdgeTvq.Format;

/// <summary>
/// One parsed, checksum-verified record. <see cref="Payload"/> points into the reader's buffer and is valid
/// only during the callback that receives the record; copy what you keep.
/// </summary>
public readonly struct BundleRecord
{
    public int Index { get; init; }
    /// <summary>Byte offset of the record's first byte in its file.</summary>
    public long Offset { get; init; }
    public RecordKind Kind { get; init; }
    public int Bits { get; init; }
    public string Name { get; init; }
    public long[] Shape { get; init; }
    public long ElementCount { get; init; }
    public ReadOnlySequence<byte> Payload { get; init; }
    /// <summary>Bytes the whole record occupies in its file, checksum included.</summary>
    public long TotalLength { get; init; }

    /// <summary>Scale and zero point of a <see cref="RecordKind.Quantized"/> record (first 8 payload bytes).</summary>
    public QuantParams QuantParams(QuantMode mode)
    {
        Span<byte> head = stackalloc byte[8];
        Payload.Slice(0, 8).CopyTo(head);
        return new QuantParams(Bits, BinaryPrimitives.ReadSingleLittleEndian(head), BinaryPrimitives.ReadSingleLittleEndian(head[4..]), mode);
    }

    /// <summary>The packed codes of a quantized record.</summary>
    public ReadOnlySequence<byte> Codes => Payload.Slice(8);

    /// <summary>Payload bytes 0–7 of a <see cref="RecordKind.Grouped"/> record: mode (u8), 3 reserved bytes, G (u32).</summary>
    internal (byte Mode, uint Reserved, uint GroupSize) GroupedHead() => ReadGroupedHead(Payload);

    /// <summary>Bytes 0–7 of a grouped payload (at least 8 bytes): mode, the 3 reserved bytes as one number, G.</summary>
    internal static (byte Mode, uint Reserved, uint GroupSize) ReadGroupedHead(in ReadOnlySequence<byte> payload)
    {
        Span<byte> head = stackalloc byte[8];
        payload.Slice(0, 8).CopyTo(head);
        return (head[0], (uint)(head[1] | head[2] << 8 | head[3] << 16), BinaryPrimitives.ReadUInt32LittleEndian(head[4..]));
    }

    /// <summary>
    /// Mode, G, the M = ⌈E/G⌉ scales and (affine) zero points of a <see cref="RecordKind.Grouped"/> record, copied out
    /// of the payload (2·M floats per record, none per element). The record parser has checked the layout.
    /// </summary>
    public GroupedParams GroupedParams()
    {
        var (mode, _, g) = GroupedHead();
        var groupMode = (GroupMode)mode;
        int m = (int)Quantization.GroupedParams.GroupCount(ElementCount, (int)g);
        float[] scales = ReadFloats(Payload.Slice(8, 4L * m), m);
        float[]? zeros = groupMode == GroupMode.Affine ? ReadFloats(Payload.Slice(8 + 4L * m, 4L * m), m) : null;
        return new GroupedParams(Bits, groupMode, (int)g, scales, zeros);
    }

    /// <summary>The packed codes of a grouped record (after its mode, G, scales and zero points).</summary>
    public ReadOnlySequence<byte> GroupedCodes
    {
        get
        {
            var (mode, _, g) = GroupedHead();
            long m = Quantization.GroupedParams.GroupCount(ElementCount, (int)g);
            return Payload.Slice(Quantization.GroupedParams.HeadLength(m, (GroupMode)mode));
        }
    }

    private static float[] ReadFloats(in ReadOnlySequence<byte> bytes, int count)
    {
        var values = new float[count];
        var raw = System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan());
        bytes.CopyTo(raw);
        if (!BitConverter.IsLittleEndian)
            for (int i = 0; i < count; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(raw[(4 * i)..]);
        return values;
    }

    /// <summary>The value of a <see cref="RecordKind.Constant"/> record.</summary>
    public float ConstantValue
    {
        get
        {
            Span<byte> b = stackalloc byte[4];
            Payload.Slice(0, 4).CopyTo(b);
            return BinaryPrimitives.ReadSingleLittleEndian(b);
        }
    }

    /// <summary>
    /// The tensor this record stands for, as float32 into <paramref name="output"/> (length = element count):
    /// dequantized codes (one scale, or one per group), the constant, or the stored floats. Not valid for metadata.
    /// </summary>
    public void DecodeTo(Span<float> output, QuantMode mode, SimdWidth width = SimdWidth.Best)
    {
        if (output.Length != ElementCount) throw new ArgumentException($"output holds {output.Length} elements, record '{Name}' has {ElementCount}", nameof(output));
        switch (Kind)
        {
            case RecordKind.Quantized:
                {
                    var p = QuantParams(mode);
                    var codes = Codes;
                    if (codes.IsSingleSegment)
                    {
                        Dequantizer.Dequantize(codes.FirstSpan, p, output, width);
                    }
                    else
                    {
                        byte[] rented = ArrayPool<byte>.Shared.Rent((int)codes.Length);
                        try
                        {
                            codes.CopyTo(rented);
                            Dequantizer.Dequantize(rented.AsSpan(0, (int)codes.Length), p, output, width);
                        }
                        finally { ArrayPool<byte>.Shared.Return(rented); }
                    }
                    break;
                }
            case RecordKind.Grouped:
                {
                    var g = GroupedParams();
                    var codes = GroupedCodes;
                    if (codes.IsSingleSegment)
                    {
                        GroupedDequantizer.Dequantize(codes.FirstSpan, g, output, width);
                    }
                    else
                    {
                        byte[] rented = ArrayPool<byte>.Shared.Rent((int)codes.Length);
                        try
                        {
                            codes.CopyTo(rented);
                            GroupedDequantizer.Dequantize(rented.AsSpan(0, (int)codes.Length), g, output, width);
                        }
                        finally { ArrayPool<byte>.Shared.Return(rented); }
                    }
                    break;
                }
            case RecordKind.Constant:
                output.Fill(ConstantValue);
                break;
            case RecordKind.Float32:
            case RecordKind.OwnFloat32:
                {
                    var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(output);
                    Payload.CopyTo(bytes);
                    if (!BitConverter.IsLittleEndian)
                        for (int i = 0; i < output.Length; i++) output[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(i * 4)..]);
                    break;
                }
            default:
                throw new InvalidOperationException($"record '{Name}' of kind {Kind} holds no tensor");
        }
    }

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
