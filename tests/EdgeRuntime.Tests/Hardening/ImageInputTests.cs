using System.Buffers.Binary;
using EdgeTvq.Runtime.Input;

namespace EdgeTvq.Runtime.Tests.Hardening;

/// <summary>Inputs the fuzz suite found mishandled by the image and idx readers; each must be a clear InvalidDataException.</summary>
public sealed class ImageInputTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "edgetvq-images-" + Guid.NewGuid().ToString("N")[..10]);

    public ImageInputTests() => Directory.CreateDirectory(_dir);

    private string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static InvalidDataException Refused(string path)
    {
        // The decoder once looped forever on such input: bound the wait.
        var load = Task.Run(() => ImageFiles.Load(path, 28));
        Assert.True(Task.WhenAny(load, Task.Delay(TimeSpan.FromSeconds(30))).Result == load, $"{path}: the reader did not return");
        var e = Assert.IsType<InvalidDataException>(load.Exception?.InnerException);
        Assert.Contains(path, e.Message);
        return e;
    }

    [Fact]
    public void A_truncated_jpeg_is_refused_instead_of_hanging_the_decoder()
    {
        byte[] jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, (byte)'J', (byte)'F', (byte)'I', (byte)'F', 0x00, 0x01, 0x01, 0x01, 0x00, 0x01, 0x00];
        Assert.Contains("beyond the end of the file", Refused(Write("cut.jpg", jpeg)).Message);
    }

    [Fact]
    public void A_jpeg_scan_without_an_end_marker_is_refused()
    {
        byte[] jpeg = [0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 8, 0, 1, 0, 1, 1, 1, 0x11, 0, 0xFF, 0xDA, 0x00, 0x08, 1, 1, 0, 0, 0x3F, 0, 0x12, 0x34];
        Assert.Contains("EOI", Refused(Write("noeoi.jpg", jpeg)).Message);
    }

    [Fact]
    public void An_idx_header_whose_size_product_wraps_to_the_file_size_is_refused()
    {
        var idx = new byte[16];
        BinaryPrimitives.WriteInt32BigEndian(idx, 0x00000803);
        BinaryPrimitives.WriteInt32BigEndian(idx.AsSpan(4), 1 << 22);
        BinaryPrimitives.WriteInt32BigEndian(idx.AsSpan(8), 1 << 21);
        BinaryPrimitives.WriteInt32BigEndian(idx.AsSpan(12), 1 << 21); // 2^22 · 2^21 · 2^21 = 2^64, 0 in 64-bit arithmetic
        Assert.Contains("idx header says", Refused(Write("wrap.idx", idx)).Message);
    }

    [Fact]
    public void A_png_on_which_the_decoder_throws_an_io_error_is_a_format_error()
    {
        string path = Write("bad.png", File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "fixtures", "png-decoder-ioexception.png")));
        // Caught by the chunk check now (a chunk at byte 542 declares 4 GB); before that check, the decoder's IOException was wrapped.
        Assert.Contains("not a readable PNG", Refused(path).Message);
    }

    [Fact]
    public void A_png_chunk_declaring_more_bytes_than_the_file_holds_is_refused_before_decoding()
    {
        // Signature, a valid 3×2 IHDR, then an IDAT that declares 268 MB in an 85-byte file: the decoder sized a
        // buffer from that length (512 MB allocated) before this check.
        var png = new List<byte> { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, (byte)'I', (byte)'H', (byte)'D', (byte)'R' };
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, 3);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), 2);
        ihdr[8] = 8;
        png.AddRange(ihdr);
        var crc = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, System.IO.Hashing.Crc32.HashToUInt32([.. "IHDR"u8, .. ihdr]));
        png.AddRange(crc);
        png.AddRange(new byte[] { 0x10, 0x00, 0x00, 0x1C, (byte)'I', (byte)'D', (byte)'A', (byte)'T' });
        png.AddRange(new byte[85 - png.Count]);
        long before = GC.GetTotalAllocatedBytes(precise: true);
        Assert.Contains("declares 268435484 bytes, beyond the end of the file", Refused(Write("long.png", [.. png])).Message);
        Assert.True(GC.GetTotalAllocatedBytes(precise: true) - before < 64 << 20, "the reader allocated as the chunk length says");
    }

    [Fact]
    public void A_png_declaring_more_pixels_than_any_input_needs_is_refused_before_decoding()
    {
        // A PNG of 16384 × 16384 8-bit grey pixels whose image data is 64 bytes (the header alone is what counts).
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, 16384);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), 16384);
        ihdr[8] = 8;
        var png = new List<byte> { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A };
        void Chunk(string type, byte[] data)
        {
            var head = new byte[4];
            BinaryPrimitives.WriteInt32BigEndian(head, data.Length);
            png.AddRange(head);
            byte[] typed = [.. System.Text.Encoding.ASCII.GetBytes(type), .. data];
            png.AddRange(typed);
            var crc = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(crc, System.IO.Hashing.Crc32.HashToUInt32(typed));
            png.AddRange(crc);
        }
        Chunk("IHDR", ihdr);
        using (var z = new MemoryStream())
        {
            using (var zlib = new System.IO.Compression.ZLibStream(z, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true)) zlib.Write(new byte[64]);
            Chunk("IDAT", z.ToArray());
        }
        Chunk("IEND", []);
        Assert.Contains("pixel limit", Refused(Write("huge.png", [.. png])).Message);
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
