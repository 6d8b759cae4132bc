using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using EdgeTvq.Format;

namespace EdgeTvq.Fuzz.Mutation;

/// <summary>
/// A bundle binary file split into header, record bodies (without their checksums) and trailer, so a mutation can
/// change one field and then recompute the record checksum, the header checksum and the trailer (length and
/// whole-file xxHash64) — docs/bundle-format.md §4.
/// </summary>
public sealed class BundleFile
{
    public byte[] Header = [];
    public List<byte[]> Records = [];

    public static BundleFile? TryParse(byte[] b)
    {
        if (b.Length < FormatConstants.HeaderSize + FormatConstants.TrailerSize) return null;
        var f = new BundleFile { Header = b[..FormatConstants.HeaderSize] };
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(FileHeader.OffRecordCount));
        long at = FormatConstants.HeaderSize;
        for (uint i = 0; i < count; i++)
        {
            if (at + FormatConstants.RecordFixedSize > b.Length) return null;
            int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan((int)at + RecordHeader.OffNameLength));
            int rank = b[at + RecordHeader.OffRank];
            ulong payload = BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan((int)at + RecordHeader.OffPayloadLength));
            if (payload > (ulong)b.Length) return null;
            long body = FormatConstants.RecordFixedSize + nameLength + 8L * rank + (long)payload;
            if (at + body + 8 > b.Length) return null;
            f.Records.Add(b[(int)at..(int)(at + body)]);
            at += body + 8;
        }
        return f;
    }

    public byte[] Serialize(bool fixHeader = true, bool fixRecords = true, bool fixTrailer = true, bool fixCount = true)
    {
        var ms = new MemoryStream();
        var header = (byte[])Header.Clone();
        if (fixCount) BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(FileHeader.OffRecordCount), (uint)Records.Count);
        if (fixHeader) BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(FileHeader.OffChecksum), XxHash64.HashToUInt64(header.AsSpan(0, FileHeader.OffChecksum)));
        ms.Write(header);
        Span<byte> hash = stackalloc byte[8];
        foreach (var r in Records)
        {
            ms.Write(r);
            ulong h = fixRecords ? XxHash64.HashToUInt64(r) : 0x1234;
            BinaryPrimitives.WriteUInt64LittleEndian(hash, h);
            ms.Write(hash);
        }
        long length = ms.Length + FormatConstants.TrailerSize;
        ulong whole = XxHash64.HashToUInt64(ms.GetBuffer().AsSpan(0, (int)ms.Length));
        ms.Write(FormatConstants.TrailerMagic);
        Span<byte> t = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(t, fixTrailer ? (ulong)length : (ulong)length + 1);
        BinaryPrimitives.WriteUInt64LittleEndian(t[8..], whole);
        ms.Write(t);
        return ms.ToArray();
    }

    private static readonly float[] Floats =
        [0f, -0f, 1f, -1f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, float.Epsilon, float.MaxValue, float.MinValue, 1e-30f, 0.5f, 255f, 256f, 1e20f, -1e20f];

    /// <summary>One structure-aware mutation of a bundle file, with checksums recomputed (most of the time).</summary>
    public static byte[] Mutate(byte[] input, Random rng)
    {
        var f = TryParse(input);
        if (f is null || rng.Next(10) == 0) return Bytes.Mutate(input, rng);
        bool fixCount = true;
        if (f.Records.Count == 0 || rng.Next(6) == 0)
        {
            // a header field
            int[] offsets = [FileHeader.OffVersion, FileHeader.OffKind, FileHeader.OffScheme, FileHeader.OffMode, FileHeader.OffFlags,
                FileHeader.OffReserved1, FileHeader.OffBundleId, FileHeader.OffPretrained, FileHeader.OffRecordCount, FileHeader.OffReserved2];
            int at = offsets[rng.Next(offsets.Length)];
            if (at == FileHeader.OffRecordCount) { Bytes.PutInterestingField(f.Header, at, 4, rng); fixCount = false; }
            else if (rng.Next(2) == 0) f.Header[at] = (byte)rng.Next(256);
            else f.Header[at] ^= (byte)(1 << rng.Next(8));
        }
        else
        {
            int i = rng.Next(f.Records.Count);
            var r = f.Records[i];
            int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(r.AsSpan(RecordHeader.OffNameLength));
            int rank = r[RecordHeader.OffRank];
            int payloadAt = FormatConstants.RecordFixedSize + nameLength + 8 * rank;
            switch (rng.Next(15))
            {
                case 0: r[RecordHeader.OffKind] = (byte)rng.Next(9); break; // 0 and 8 are unknown kinds
                case 1: r[RecordHeader.OffBits] = (byte)rng.Next(10); break;
                case 2: r[RecordHeader.OffRank] = (byte)rng.Next(10); break; // rank without dims: lengths disagree
                case 3: Bytes.PutInterestingField(r, RecordHeader.OffNameLength, 2, rng); break;
                case 4: Bytes.PutInterestingField(r, RecordHeader.OffPayloadLength, 8, rng); break;
                case 5: // a dimension
                    if (rank > 0) Bytes.PutInterestingField(r, FormatConstants.RecordFixedSize + nameLength + 8 * rng.Next(rank), 8, rng);
                    break;
                case 6: // rank and dims together, payload kept
                    {
                        int newRank = rng.Next(10);
                        var dims = new byte[8 * newRank];
                        for (int d = 0; d < newRank; d++) BinaryPrimitives.WriteInt64LittleEndian(dims.AsSpan(8 * d), rng.Next(3) == 0 ? Bytes.InterestingValue(rng) : rng.Next(5));
                        r = [.. r[..(FormatConstants.RecordFixedSize + nameLength)], .. dims, .. r[payloadAt..]];
                        r[RecordHeader.OffRank] = (byte)newRank;
                        break;
                    }
                case 7: // rename
                    {
                        string[] names = ["", "__metadata__", "head.weight", "blocks.0.attn.qkv.bias", "\u00ff\u00fe", "a\0b", new string('n', 1025)];
                        byte[] name = rng.Next(4) == 0 ? [0xC3, 0x28] : Encoding.UTF8.GetBytes(names[rng.Next(names.Length)]);
                        r = [.. r[..FormatConstants.RecordFixedSize], .. name, .. r[(FormatConstants.RecordFixedSize + nameLength)..]];
                        BinaryPrimitives.WriteUInt16LittleEndian(r.AsSpan(RecordHeader.OffNameLength), (ushort)name.Length);
                        break;
                    }
                case 8: // scale / zero point / constant / a float value
                    if (r.Length >= payloadAt + 4)
                        BinaryPrimitives.WriteSingleLittleEndian(r.AsSpan(payloadAt + 4 * rng.Next(Math.Min(2, (r.Length - payloadAt) / 4))), Floats[rng.Next(Floats.Length)]);
                    break;
                case 9: // payload bytes (codes, values, padding bits)
                    if (r.Length > payloadAt) r[payloadAt + rng.Next(r.Length - payloadAt)] ^= (byte)(1 << rng.Next(8));
                    break;
                case 10: // payload resized, length field kept consistent
                    {
                        byte[] payload = Bytes.Mutate(r[payloadAt..], rng);
                        r = [.. r[..payloadAt], .. payload];
                        BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(RecordHeader.OffPayloadLength), (ulong)payload.Length);
                        break;
                    }
                case 11: // metadata JSON (or any payload) through the JSON mutator
                    {
                        byte[] payload = Json.Mutate(r[payloadAt..], rng);
                        r = [.. r[..payloadAt], .. payload];
                        BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(RecordHeader.OffPayloadLength), (ulong)payload.Length);
                        break;
                    }
                case 13 when r[RecordHeader.OffKind] == (byte)RecordKind.Grouped && r.Length >= payloadAt + 8:
                    // a grouped record's head: mode, reserved bytes, group size, or one of its scales and zero points
                    switch (rng.Next(4))
                    {
                        case 0: r[payloadAt] = (byte)rng.Next(4); break;
                        case 1: r[payloadAt + 1 + rng.Next(3)] = (byte)(1 + rng.Next(255)); break;
                        case 2: Bytes.PutInterestingField(r, payloadAt + 4, 4, rng); break;
                        default:
                            if (r.Length >= payloadAt + 12)
                                BinaryPrimitives.WriteSingleLittleEndian(r.AsSpan(payloadAt + 8 + 4 * rng.Next((r.Length - payloadAt - 8) / 4)), Floats[rng.Next(Floats.Length)]);
                            break;
                    }
                    break;
                case 12: // drop, duplicate or swap records
                    switch (rng.Next(3))
                    {
                        case 0: f.Records.RemoveAt(i); break;
                        case 1: f.Records.Insert(i, r); break;
                        default: { int j = rng.Next(f.Records.Count); (f.Records[i], f.Records[j]) = (f.Records[j], f.Records[i]); break; }
                    }
                    return f.Serialize(fixCount: rng.Next(4) != 0);
                default: r[RecordHeader.OffReserved1 + (rng.Next(2) == 0 ? 0 : 3)] = (byte)(1 + rng.Next(255)); break;
            }
            if (i < f.Records.Count) f.Records[i] = r;
        }
        return f.Serialize(fixHeader: rng.Next(20) != 0, fixRecords: rng.Next(20) != 0, fixTrailer: rng.Next(20) != 0, fixCount: fixCount && rng.Next(10) != 0);
    }
}
