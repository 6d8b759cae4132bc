using System.Buffers.Binary;
using System.IO.Hashing;

namespace EdgeTvq.Format;

/// <summary>
/// The 80-byte header that opens every bundle binary file (little-endian):
/// <code>
///  offset size field
///   0      8   magic 89 54 56 51 0D 0A 1A 0A
///   8      2   format version (u16): 1, or 2 for a task file with own-blob records
///  10      1   file kind (u8): 1 base, 2 task
///  11      1   scheme (u8): 1 fq, 2 tvq, 3 rtvq
///  12      1   quantizer mode (u8): 0 default, 1 reference
///  13      1   flags (u8): bit 0 error correction
///  14      2   reserved, zero
///  16     16   bundle id
///  32     32   pretrained identity (SHA-256, see PretrainedIdentity)
///  64      4   record count (u32)
///  68      4   reserved, zero
///  72      8   xxHash64 (seed 0) of bytes 0..71
/// </code>
/// </summary>
public readonly record struct FileHeader(
    FileKind Kind,
    Scheme Scheme,
    Quantization.QuantMode Mode,
    FileFlags Flags,
    Guid BundleId,
    byte[] PretrainedIdentity,
    uint RecordCount,
    ushort Version = FormatConstants.Version)
{
    public const int OffVersion = 8, OffKind = 10, OffScheme = 11, OffMode = 12, OffFlags = 13, OffReserved1 = 14,
        OffBundleId = 16, OffPretrained = 32, OffRecordCount = 64, OffReserved2 = 68, OffChecksum = 72;

    public void Write(Span<byte> dst)
    {
        dst[..FormatConstants.HeaderSize].Clear();
        FormatConstants.Magic.CopyTo(dst);
        BinaryPrimitives.WriteUInt16LittleEndian(dst[OffVersion..], Version);
        dst[OffKind] = (byte)Kind;
        dst[OffScheme] = (byte)Scheme;
        dst[OffMode] = (byte)Mode;
        dst[OffFlags] = (byte)Flags;
        BundleIdBytes(BundleId).CopyTo(dst[OffBundleId..]);
        PretrainedIdentity.AsSpan().CopyTo(dst[OffPretrained..]);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[OffRecordCount..], RecordCount);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[OffChecksum..], XxHash64.HashToUInt64(dst[..OffChecksum]));
    }

    /// <summary>Parses and checks a header; every problem is a <see cref="BundleFormatException"/> naming <paramref name="file"/>.</summary>
    public static FileHeader Read(ReadOnlySpan<byte> src, string file)
    {
        if (src.Length < FormatConstants.HeaderSize)
            throw new BundleFormatException(file, $"file is {src.Length} bytes, shorter than the {FormatConstants.HeaderSize}-byte header; it is truncated or not an EdgeTvq bundle file", offset: 0);
        if (!src[..8].SequenceEqual(FormatConstants.Magic))
            throw new BundleFormatException(file, "bad magic: not an EdgeTvq bundle file (expected 89 54 56 51 0D 0A 1A 0A)", offset: 0);
        ulong stored = BinaryPrimitives.ReadUInt64LittleEndian(src[OffChecksum..]);
        if (stored != XxHash64.HashToUInt64(src[..OffChecksum]))
            throw new BundleFormatException(file, "header checksum mismatch: the header is damaged; copy the file again from the packer's output", offset: 0);
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(src[OffVersion..]);
        if (version is < FormatConstants.Version or > FormatConstants.LatestVersion)
            throw new BundleFormatException(file, $"format version {version} is not supported (this build reads versions {FormatConstants.Version} to {FormatConstants.LatestVersion}); use a matching edgetvq build", offset: OffVersion);
        byte kind = src[OffKind], scheme = src[OffScheme], mode = src[OffMode], flags = src[OffFlags];
        if (kind is not ((byte)FileKind.Base or (byte)FileKind.Task))
            throw new BundleFormatException(file, $"unknown file kind {kind}", offset: OffKind);
        if (scheme is < 1 or > 3)
            throw new BundleFormatException(file, $"unknown scheme {scheme}", offset: OffScheme);
        if (mode > 1)
            throw new BundleFormatException(file, $"unknown quantizer mode {mode}", offset: OffMode);
        if ((flags & ~1) != 0 || BinaryPrimitives.ReadUInt16LittleEndian(src[OffReserved1..]) != 0 || BinaryPrimitives.ReadUInt32LittleEndian(src[OffReserved2..]) != 0)
            throw new BundleFormatException(file, "reserved header bits are set; the file was written by a newer or broken writer", offset: OffFlags);
        uint records = BinaryPrimitives.ReadUInt32LittleEndian(src[OffRecordCount..]);
        if (records > FormatConstants.MaxRecords)
            throw new BundleFormatException(file, $"record count {records} exceeds the limit {FormatConstants.MaxRecords}", offset: OffRecordCount);
        return new FileHeader((FileKind)kind, (Scheme)scheme, (Quantization.QuantMode)mode, (FileFlags)flags,
            BundleIdFromBytes(src.Slice(OffBundleId, 16)), src.Slice(OffPretrained, 32).ToArray(), records, version);
    }

    /// <summary>Bundle ids are stored as the 16 bytes of their big-endian (RFC 4122) form, the same bytes as the manifest's hex.</summary>
    public static byte[] BundleIdBytes(Guid id) => id.ToByteArray(bigEndian: true);

    public static Guid BundleIdFromBytes(ReadOnlySpan<byte> bytes) => new(bytes, bigEndian: true);
}
