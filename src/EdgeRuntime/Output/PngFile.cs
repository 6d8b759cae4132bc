using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;

namespace EdgeTvq.Runtime.Output;

/// <summary>
/// Minimal PNG writer for 8-bit images: the signature, IHDR (bit depth 8, colour type 2 = RGB or 0 = gray, no
/// interlace), one IDAT chunk holding the zlib stream of the rows (each prefixed by filter type 0), and IEND; every
/// chunk carries its CRC-32 over type and data.
/// </summary>
public static class PngFile
{
    static ReadOnlySpan<byte> Signature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Writes interleaved RGB pixels (3 bytes per pixel, row-major) under a temp name, then renames.</summary>
    public static void WriteRgb(string path, ReadOnlySpan<byte> rgb, int width, int height) =>
        AtomicFile.Write(path, Encode(rgb, width, height, 3));

    /// <summary>Writes 8-bit gray pixels (row-major) under a temp name, then renames.</summary>
    public static void WriteGray(string path, ReadOnlySpan<byte> gray, int width, int height) =>
        AtomicFile.Write(path, Encode(gray, width, height, 1));

    /// <summary>The bytes of the PNG file for 1 (gray) or 3 (RGB) channels.</summary>
    public static byte[] Encode(ReadOnlySpan<byte> pixels, int width, int height, int channels)
    {
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), $"channels must be 1 or 3, not {channels}");
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"image size {width}x{height} must be positive");
        int stride = width * channels;
        if (pixels.Length != (long)stride * height)
            throw new ArgumentException($"pixel data has {pixels.Length} bytes, expected {width}x{height}x{channels}", nameof(pixels));

        using var output = new MemoryStream();
        output.Write(Signature);

        Span<byte> ihdr = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr[4..], height);
        ihdr[8] = 8;                               // bit depth
        ihdr[9] = channels == 3 ? (byte)2 : (byte)0; // colour type: truecolour or greyscale
        ihdr[10] = 0;                              // deflate
        ihdr[11] = 0;                              // adaptive filtering (every row uses type 0)
        ihdr[12] = 0;                              // no interlace
        WriteChunk(output, "IHDR"u8, ihdr);

        using (var compressed = new MemoryStream())
        {
            using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
            {
                ReadOnlySpan<byte> filterNone = [0];
                for (int y = 0; y < height; y++)
                {
                    z.Write(filterNone);
                    z.Write(pixels.Slice(y * stride, stride));
                }
            }
            WriteChunk(output, "IDAT"u8, compressed.GetBuffer().AsSpan(0, (int)compressed.Length));
        }
        WriteChunk(output, "IEND"u8, []);
        return output.ToArray();
    }

    static void WriteChunk(Stream output, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        output.Write(word);
        output.Write(type);
        output.Write(data);
        var crc = new Crc32();
        crc.Append(type);
        crc.Append(data);
        BinaryPrimitives.WriteUInt32BigEndian(word, crc.GetCurrentHashAsUInt32());
        output.Write(word);
    }
}
