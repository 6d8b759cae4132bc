using System.Buffers.Binary;

namespace EdgeTvq.Format;

/// <summary>
/// Fixed part of a record (16 bytes, little-endian), followed by the name, the dimensions, the payload and an
/// 8-byte xxHash64 (seed 0) of everything from the record's first byte to the payload's last:
/// <code>
///  offset size field
///   0      1   record kind (u8): 1 quantized, 2 constant, 3 float32, 4 own float32, 5 metadata
///   1      1   bits (u8): 1..8 for kind 1, else 0
///   2      1   rank (u8): 0..8 (0 for metadata)
///   3      1   reserved, zero
///   4      2   name length in bytes (u16), 1..1024
///   6      2   reserved, zero
///   8      8   payload length (u64) ≤ 2^31 − 1
///  16      n   name, UTF-8
///  16+n  8·r   dimensions (u64 each)
///   …      p   payload
///   …      8   xxHash64 of the record up to here
/// </code>
/// </summary>
public readonly record struct RecordHeader(RecordKind Kind, byte Bits, byte Rank, ushort NameLength, ulong PayloadLength)
{
    public const int OffKind = 0, OffBits = 1, OffRank = 2, OffReserved1 = 3, OffNameLength = 4, OffReserved2 = 6, OffPayloadLength = 8;

    /// <summary>Bytes of name + dimensions that follow the fixed part.</summary>
    public int VariableLength => NameLength + 8 * Rank;

    /// <summary>Total record size including the checksum.</summary>
    public long TotalLength => FormatConstants.RecordFixedSize + VariableLength + (long)PayloadLength + FormatConstants.RecordChecksumSize;

    public void Write(Span<byte> dst)
    {
        dst[..FormatConstants.RecordFixedSize].Clear();
        dst[OffKind] = (byte)Kind;
        dst[OffBits] = Bits;
        dst[OffRank] = Rank;
        BinaryPrimitives.WriteUInt16LittleEndian(dst[OffNameLength..], NameLength);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[OffPayloadLength..], PayloadLength);
    }

    /// <summary>Reads the fixed part and checks every field against the format's limits before anything is allocated.</summary>
    public static RecordHeader Read(ReadOnlySpan<byte> src, string file, int index, long offset)
    {
        byte kind = src[OffKind], bits = src[OffBits], rank = src[OffRank];
        ushort nameLength = BinaryPrimitives.ReadUInt16LittleEndian(src[OffNameLength..]);
        ulong payload = BinaryPrimitives.ReadUInt64LittleEndian(src[OffPayloadLength..]);
        string where = $"record {index}";
        if (kind is < 1 or > 7)
            throw new BundleFormatException(file, $"{where}: unknown record kind {kind}; the file is damaged", offset: offset);
        if (src[OffReserved1] != 0 || BinaryPrimitives.ReadUInt16LittleEndian(src[OffReserved2..]) != 0)
            throw new BundleFormatException(file, $"{where}: reserved bytes are not zero; the file is damaged", offset: offset);
        if ((RecordKind)kind is RecordKind.Quantized or RecordKind.Grouped ? bits is < 1 or > 8 : bits != 0)
            throw new BundleFormatException(file, $"{where}: bit width {bits} is invalid for record kind {(RecordKind)kind}", offset: offset + OffBits);
        if (rank > FormatConstants.MaxRank)
            throw new BundleFormatException(file, $"{where}: rank {rank} exceeds {FormatConstants.MaxRank}", offset: offset + OffRank);
        if (nameLength is 0 or > FormatConstants.MaxNameBytes)
            throw new BundleFormatException(file, $"{where}: name length {nameLength} is outside 1..{FormatConstants.MaxNameBytes}", offset: offset + OffNameLength);
        if (payload > FormatConstants.MaxPayloadBytes)
            throw new BundleFormatException(file, $"{where}: payload length {payload} exceeds {FormatConstants.MaxPayloadBytes}; the file is damaged", offset: offset + OffPayloadLength);
        return new RecordHeader((RecordKind)kind, bits, rank, nameLength, payload);
    }
}
