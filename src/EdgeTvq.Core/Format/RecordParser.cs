using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using EdgeTvq.Packing;

namespace EdgeTvq.Format;

/// <summary>
/// Pure parsing of records and the trailer from a buffered byte sequence. Each TryRead returns false when the
/// buffer does not yet hold the whole item (the caller reads more and calls again) and throws
/// <see cref="BundleFormatException"/> for anything malformed. Declared lengths are checked against the
/// format's limits before waiting for the bytes they announce.
/// </summary>
public static class RecordParser
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static bool TryReadRecord(ref ReadOnlySequence<byte> buffer, string file, int index, long offset, out BundleRecord record)
    {
        record = default;
        if (buffer.Length < FormatConstants.RecordFixedSize) return false;
        Span<byte> fixedPart = stackalloc byte[FormatConstants.RecordFixedSize];
        buffer.Slice(0, FormatConstants.RecordFixedSize).CopyTo(fixedPart);
        var header = RecordHeader.Read(fixedPart, file, index, offset);
        if (buffer.Length < header.TotalLength) return false;

        var whole = buffer.Slice(0, header.TotalLength);
        var body = whole.Slice(0, header.TotalLength - FormatConstants.RecordChecksumSize);
        Span<byte> stored = stackalloc byte[8];
        whole.Slice(body.Length, 8).CopyTo(stored);
        if (BinaryPrimitives.ReadUInt64LittleEndian(stored) != Hash(body))
            throw new BundleFormatException(file, $"record {index}: checksum mismatch, the record is damaged; copy the file again from the packer's output", offset: offset);

        var variable = body.Slice(FormatConstants.RecordFixedSize, header.VariableLength).ToArray();
        string name;
        try { name = StrictUtf8.GetString(variable, 0, header.NameLength); }
        catch (DecoderFallbackException) { throw new BundleFormatException(file, $"record {index}: name is not valid UTF-8", offset: offset); }

        var shape = new long[header.Rank];
        long count = 1;
        for (int d = 0; d < header.Rank; d++)
        {
            ulong dim = BinaryPrimitives.ReadUInt64LittleEndian(variable.AsSpan(header.NameLength + 8 * d));
            if (dim > (ulong)FormatConstants.MaxElements || (count *= (long)dim) > FormatConstants.MaxElements)
                throw new BundleFormatException(file, $"record {index}: dimensions give more than {FormatConstants.MaxElements} elements; the file is damaged", name, offset);
            shape[d] = (long)dim;
        }
        if (header.Kind == RecordKind.Metadata) count = 0;

        long payloadLength = (long)header.PayloadLength;
        long expected = header.Kind switch
        {
            RecordKind.Quantized => 8 + BitPacking.PackedLength(count, header.Bits),
            RecordKind.Constant => 4,
            RecordKind.Float32 or RecordKind.OwnFloat32 => checked(4 * count),
            RecordKind.OwnBlob => count,
            RecordKind.Grouped => GroupedLength(header, payloadLength, body.Slice(FormatConstants.RecordFixedSize + header.VariableLength), count, file, index, name, offset),
            _ => payloadLength,
        };
        if (header.Kind == RecordKind.OwnBlob && header.Rank != 1)
            throw new BundleFormatException(file, $"record {index}: an own-blob record must have rank 1 (its byte count)", name, offset);
        if (header.Kind == RecordKind.Metadata && header.Rank != 0)
            throw new BundleFormatException(file, $"record {index}: a metadata record must have rank 0", name, offset);
        if (payloadLength != expected)
            throw new BundleFormatException(file, $"record {index}: payload is {payloadLength} bytes but a {header.Kind} record of shape [{string.Join(", ", shape)}] needs {expected}", name, offset);

        var payload = body.Slice(FormatConstants.RecordFixedSize + header.VariableLength);
        record = new BundleRecord
        {
            Index = index, Offset = offset, Kind = header.Kind, Bits = header.Bits, Name = name,
            Shape = shape, ElementCount = count, Payload = payload, TotalLength = header.TotalLength,
        };
        ValidatePayload(record, file);
        buffer = buffer.Slice(header.TotalLength);
        return true;
    }

    /// <summary>
    /// Section 4.2, kind 7: the payload length its head implies, 8 + 4·M·(2, or 1 for signs) + ⌈E·b/8⌉ with M = ⌈E/G⌉,
    /// after checking the head itself (mode 0 or 1, reserved bytes zero, G ≥ 1, E ≥ 1, sign codes of 1 bit).
    /// </summary>
    private static long GroupedLength(RecordHeader header, long payloadLength, in ReadOnlySequence<byte> payload, long count, string file, int index, string name, long offset)
    {
        string where = $"record {index}";
        if (payloadLength < 8)
            throw new BundleFormatException(file, $"{where}: payload is {payloadLength} bytes, too short for a Grouped record's mode and group size (8 bytes)", name, offset);
        var (mode, reserved, groupSize) = BundleRecord.ReadGroupedHead(payload);
        if (mode > (byte)Quantization.GroupMode.Sign)
            throw new BundleFormatException(file, $"{where}: group mode {mode} is unknown (0 = affine, 1 = sign); the file is damaged or from a newer edgetvq", name, offset);
        if (reserved != 0)
            throw new BundleFormatException(file, $"{where}: reserved bytes of the grouped payload are not zero; the file is damaged", name, offset);
        if (groupSize is 0 or > int.MaxValue)
            throw new BundleFormatException(file, $"{where}: group size {groupSize} is outside 1..{int.MaxValue}", name, offset);
        if (count == 0)
            throw new BundleFormatException(file, $"{where}: a Grouped record needs at least one element (an empty tensor is a Float32 record)", name, offset);
        if (mode == (byte)Quantization.GroupMode.Sign && header.Bits != 1)
            throw new BundleFormatException(file, $"{where}: sign (BitDelta) groups need 1-bit codes, the record has {header.Bits}", name, offset);
        long groups = Quantization.GroupedParams.GroupCount(count, (int)groupSize);
        return Quantization.GroupedParams.HeadLength(groups, (Quantization.GroupMode)mode) + BitPacking.PackedLength(count, header.Bits);
    }

    private static void ValidatePayload(in BundleRecord r, string file)
    {
        switch (r.Kind)
        {
            case RecordKind.Quantized:
                {
                    var p = r.QuantParams(Quantization.QuantMode.Default);
                    if (!float.IsFinite(p.Scale) || p.Scale <= 0f)
                        throw new BundleFormatException(file, $"record {r.Index}: scale {p.Scale} must be finite and positive", r.Name, r.Offset);
                    if (!float.IsFinite(p.ZeroPoint) || MathF.Round(p.ZeroPoint) != p.ZeroPoint)
                        throw new BundleFormatException(file, $"record {r.Index}: zero point {p.ZeroPoint} must be a finite integer", r.Name, r.Offset);
                    var codes = r.Codes;
                    if (codes.Length > 0)
                    {
                        byte last = codes.Slice(codes.Length - 1).FirstSpan[0];
                        if (!BitPacking.PaddingIsZero([last], r.Bits, r.ElementCount))
                            throw new BundleFormatException(file, $"record {r.Index}: padding bits after the last code are not zero", r.Name, r.Offset);
                    }
                    break;
                }
            case RecordKind.Grouped:
                {
                    var g = r.GroupedParams();
                    for (int k = 0; k < g.Scales.Length; k++)
                    {
                        float s = g.Scales[k];
                        bool ok = g.Mode == Quantization.GroupMode.Sign ? float.IsFinite(s) && s >= 0f && float.IsFinite(2f * s) : float.IsFinite(s) && s > 0f;
                        if (!ok)
                            throw new BundleFormatException(file, $"record {r.Index}: scale {s} of group {k} must be finite and {(g.Mode == Quantization.GroupMode.Sign ? "≥ 0 (α, with 2α finite)" : "positive")}", r.Name, r.Offset);
                    }
                    for (int k = 0; k < g.ZeroPoints.Length; k++)
                    {
                        float z = g.ZeroPoints[k];
                        if (!float.IsFinite(z) || MathF.Round(z) != z)
                            throw new BundleFormatException(file, $"record {r.Index}: zero point {z} of group {k} must be a finite integer", r.Name, r.Offset);
                    }
                    var codes = r.GroupedCodes;
                    byte last = codes.Slice(codes.Length - 1).FirstSpan[0];
                    if (!BitPacking.PaddingIsZero([last], r.Bits, r.ElementCount))
                        throw new BundleFormatException(file, $"record {r.Index}: padding bits after the last code are not zero", r.Name, r.Offset);
                    break;
                }
            case RecordKind.Constant:
                if (!float.IsFinite(r.ConstantValue))
                    throw new BundleFormatException(file, $"record {r.Index}: constant value is not finite", r.Name, r.Offset);
                break;
            case RecordKind.Float32:
            case RecordKind.OwnFloat32:
                {
                    long bad = FirstNonFinite(r.Payload);
                    if (bad >= 0)
                        throw new BundleFormatException(file, $"record {r.Index}: element {bad} is NaN or infinite; weights must be finite", r.Name, r.Offset);
                    break;
                }
        }
    }

    /// <summary>Parses the 24-byte trailer: magic, total file length (u64), xxHash64 of all bytes before the trailer.</summary>
    public static bool TryReadTrailer(ref ReadOnlySequence<byte> buffer, string file, long offset, ulong runningHash)
    {
        if (buffer.Length < FormatConstants.TrailerSize) return false;
        Span<byte> t = stackalloc byte[FormatConstants.TrailerSize];
        buffer.Slice(0, FormatConstants.TrailerSize).CopyTo(t);
        if (!t[..8].SequenceEqual(FormatConstants.TrailerMagic))
            throw new BundleFormatException(file, "trailer magic missing after the last record: the file is truncated or has extra records", offset: offset);
        long length = (long)BinaryPrimitives.ReadUInt64LittleEndian(t[8..]);
        if (length != offset + FormatConstants.TrailerSize)
            throw new BundleFormatException(file, $"trailer says the file is {length} bytes, it ends at {offset + FormatConstants.TrailerSize}", offset: offset);
        if (BinaryPrimitives.ReadUInt64LittleEndian(t[16..]) != runningHash)
            throw new BundleFormatException(file, "whole-file checksum mismatch; copy the file again from the packer's output", offset: offset);
        buffer = buffer.Slice(FormatConstants.TrailerSize);
        return true;
    }

    /// <summary>Index of the first NaN/±Inf among little-endian float32 values, or −1.</summary>
    private static long FirstNonFinite(in ReadOnlySequence<byte> payload)
    {
        long index = 0;
        Span<byte> carry = stackalloc byte[4];
        int carried = 0;
        foreach (var segment in payload)
        {
            var span = segment.Span;
            while (carried > 0 && span.Length > 0)
            {
                carry[carried++] = span[0];
                span = span[1..];
                if (carried == 4)
                {
                    if (!float.IsFinite(BinaryPrimitives.ReadSingleLittleEndian(carry))) return index;
                    index++;
                    carried = 0;
                }
            }
            int whole = span.Length / 4 * 4;
            for (int i = 0; i < whole; i += 4, index++)
                if ((BinaryPrimitives.ReadUInt32LittleEndian(span[i..]) & 0x7F800000u) == 0x7F800000u) return index;
            span[whole..].CopyTo(carry);
            carried = span.Length - whole;
        }
        return -1;
    }

    public static ulong Hash(in ReadOnlySequence<byte> bytes)
    {
        if (bytes.IsSingleSegment) return XxHash64.HashToUInt64(bytes.FirstSpan);
        var h = new XxHash64();
        foreach (var segment in bytes) h.Append(segment.Span);
        return h.GetCurrentHashAsUInt64();
    }
}
