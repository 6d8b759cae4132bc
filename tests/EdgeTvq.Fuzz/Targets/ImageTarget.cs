using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using EdgeTvq.Fuzz.Mutation;
using EdgeTvq.Fuzz.Seeds;
using EdgeTvq.Runtime.Input;

namespace EdgeTvq.Fuzz.Targets;

/// <summary>
/// The runtime's input files (ImageFiles.Load): PNG/JPEG through StbImageSharp and idx3 image files. PNG chunks are
/// mutated with their CRC-32 recomputed; idx headers get interesting counts and sizes.
/// </summary>
public sealed class ImageTarget : Harness.IFuzzTarget
{
    public string Name => "image";
    public IReadOnlySet<Type> Expected { get; } = new HashSet<Type> { typeof(InvalidDataException) };

    public IReadOnlyList<byte[]> Seeds(string scratch) =>
    [
        Png(4, 3, 0, 8), Png(3, 2, 2, 8), Png(5, 5, 4, 8), Png(2, 2, 0, 1),
        Idx(3, 4, 4), Idx(1, 28, 28),
        .. SeedFiles.Matching(".png", ".jpg"),
    ];

    public void Run(byte[] input, string scratch)
    {
        // idx files are recognised by content; the name (…-images-idx3-ubyte) lets the loader look for a labels sibling.
        string path = Path.Combine(scratch, "case-images-idx3-ubyte");
        File.WriteAllBytes(path, input);
        var images = ImageFiles.Load(path, limit: 64);
        foreach (var im in images)
        {
            if (im.Pixels.Length != (long)im.Width * im.Height * im.Channels)
                throw new Harness.FuzzInvariantException($"image {im.Source} has {im.Pixels.Length} bytes, expected {im.Width}×{im.Height}×{im.Channels}");
            var prepared = Preprocessor.Apply(EdgeTvq.Bundle.PreprocessingSpec.Legacy, im);
            if (prepared.Data.Length != 28 * 28) throw new Harness.FuzzInvariantException($"image {im.Source} preprocessed to {prepared.Data.Length} values, expected 784");
        }
    }

    public byte[] Mutate(byte[] input, Random rng)
    {
        if (input.Length >= 16 && input[0] == 0 && input[1] == 0 && input[2] == 8 && rng.Next(3) != 0)
        {
            var b = (byte[])input.Clone();
            int at = 4 * rng.Next(1, 4);
            if (rng.Next(8) == 0)
            {
                // count × rows × cols = 2^64: the product wraps to 0 in 64-bit arithmetic; no pixels follow.
                int a = rng.Next(4, 31), bb = rng.Next(34 - a, 31), c = 64 - a - bb; // each exponent in 4..30
                BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(4), 1 << a);
                BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(8), 1 << bb);
                BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(12), 1 << c);
                return b[..16];
            }
            if (rng.Next(2) == 0) BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(at), (int)Bytes.InterestingValue(rng));
            else if (rng.Next(2) == 0) b[3] = (byte)rng.Next(256);
            else return Bytes.Mutate(b, rng);
            return b;
        }
        var chunks = TryChunks(input);
        if (chunks is null || rng.Next(8) == 0) return Bytes.Mutate(input, rng);
        int i = rng.Next(chunks.Count);
        var (type, data) = chunks[i];
        switch (rng.Next(6))
        {
            case 0: // IHDR: width, height, bit depth, colour type, interlace
                {
                    int h = chunks.FindIndex(c => c.Type == "IHDR");
                    if (h < 0) goto default;
                    var d = (byte[])chunks[h].Data.Clone();
                    if (d.Length >= 13)
                    {
                        if (rng.Next(2) == 0) BinaryPrimitives.WriteInt32BigEndian(d.AsSpan(4 * rng.Next(2)), (int)Bytes.InterestingValue(rng));
                        else d[8 + rng.Next(5)] = (byte)rng.Next(256);
                    }
                    chunks[h] = ("IHDR", d);
                    break;
                }
            case 1: // IDAT: inflate, mutate, deflate (so zlib gets past and the filter/scanline code sees it)
                {
                    int at = chunks.FindIndex(c => c.Type == "IDAT");
                    if (at < 0) goto default;
                    byte[]? raw = Inflate(chunks[at].Data);
                    chunks[at] = ("IDAT", raw is null ? Bytes.Mutate(chunks[at].Data, rng) : Deflate(Bytes.Mutate(raw, rng)));
                    break;
                }
            case 2: chunks.RemoveAt(i); break;
            case 3: chunks.Insert(i, (type, data)); break;
            case 4: chunks[i] = (type, Bytes.Mutate(data, rng)); break;
            default:
                {
                    string[] types = ["PLTE", "tRNS", "IEND", "IDAT", "gAMA", "CgBI", "iCCP"];
                    chunks.Insert(i, (types[rng.Next(types.Length)], Bytes.RandomBytes(rng, rng.Next(16))));
                    break;
                }
        }
        return WritePng(chunks);
    }

    private static readonly byte[] Signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    private static List<(string Type, byte[] Data)>? TryChunks(byte[] b)
    {
        if (b.Length < 8 || !b.AsSpan(0, 8).SequenceEqual(Signature)) return null;
        var list = new List<(string, byte[])>();
        int i = 8;
        while (i + 12 <= b.Length)
        {
            uint len = BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(i));
            if (len > (uint)(b.Length - i - 12)) return null;
            list.Add((System.Text.Encoding.Latin1.GetString(b, i + 4, 4), b.AsSpan(i + 8, (int)len).ToArray()));
            i += 12 + (int)len;
        }
        return list.Count == 0 ? null : list;
    }

    private static byte[] WritePng(List<(string Type, byte[] Data)> chunks)
    {
        var ms = new MemoryStream();
        ms.Write(Signature);
        Span<byte> four = stackalloc byte[4];
        foreach (var (type, data) in chunks)
        {
            BinaryPrimitives.WriteUInt32BigEndian(four, (uint)data.Length);
            ms.Write(four);
            byte[] typed = [.. System.Text.Encoding.Latin1.GetBytes(type), .. data];
            ms.Write(typed);
            BinaryPrimitives.WriteUInt32BigEndian(four, Crc32.HashToUInt32(typed));
            ms.Write(four);
        }
        return ms.ToArray();
    }

    private static byte[]? Inflate(byte[] z)
    {
        try
        {
            using var s = new ZLibStream(new MemoryStream(z), CompressionMode.Decompress);
            using var o = new MemoryStream();
            var buf = new byte[4096];
            int n;
            while ((n = s.Read(buf)) > 0) { o.Write(buf, 0, n); if (o.Length > 1 << 20) return null; }
            return o.ToArray();
        }
        catch (InvalidDataException) { return null; }
    }

    private static byte[] Deflate(byte[] raw)
    {
        using var o = new MemoryStream();
        using (var s = new ZLibStream(o, CompressionLevel.Fastest, leaveOpen: true)) s.Write(raw);
        return o.ToArray();
    }

    /// <summary>A PNG: colour type 0 (grey), 2 (RGB) or 4 (grey+alpha) at 8 bits, or grey at 1 bit; filter 0 per row.</summary>
    public static byte[] Png(int w, int h, int colorType, int bitDepth)
    {
        int channels = colorType switch { 2 => 3, 4 => 2, _ => 1 };
        int rowBytes = (w * channels * bitDepth + 7) / 8;
        var raw = new byte[h * (rowBytes + 1)];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < rowBytes; x++) raw[y * (rowBytes + 1) + 1 + x] = (byte)(x * 37 + y * 91);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, w);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), h);
        ihdr[8] = (byte)bitDepth;
        ihdr[9] = (byte)colorType;
        return WritePng([("IHDR", ihdr), ("IDAT", Deflate(raw)), ("IEND", [])]);
    }

    /// <summary>An idx3 ubyte images file (MNIST's layout: magic 00 00 08 03, count, rows, cols, pixels).</summary>
    public static byte[] Idx(int n, int rows, int cols)
    {
        var b = new byte[16 + n * rows * cols];
        b[2] = 8; b[3] = 3;
        BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(4), n);
        BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(8), rows);
        BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(12), cols);
        for (int i = 16; i < b.Length; i++) b[i] = (byte)(i * 13);
        return b;
    }
}
