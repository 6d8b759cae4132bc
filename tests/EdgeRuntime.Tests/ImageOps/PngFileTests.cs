using System.Security.Cryptography;
using EdgeTvq.Runtime.Output;
using StbImageSharp;

namespace EdgeTvq.Runtime.Tests.ImageOps;

public sealed class PngFileTests
{
    static byte[] Pixels(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    /// <summary>PIL opens what we write (after checking every chunk's CRC-32 with zlib) and sees the same pixels.</summary>
    [Fact]
    public void Pil_ReadsOurPngs()
    {
        using var dir = new ImageOpsReference.Scratch();
        var expected = new List<string>();
        foreach (var (w, h, c) in new[] { (1, 1, 3), (13, 7, 3), (64, 33, 3), (1, 1, 1), (7, 13, 1), (300, 2, 1) })
        {
            byte[] px = Pixels(w * h * c, w * 1000 + h * 10 + c);
            string name = $"{w}x{h}x{c}.png";
            if (c == 3) PngFile.WriteRgb(dir.File(name), px, w, h);
            else PngFile.WriteGray(dir.File(name), px, w, h);
            expected.Add($"{name} {(c == 3 ? "RGB" : "L")} {w} {h} {Convert.ToHexString(SHA256.HashData(px)).ToLowerInvariant()}");
        }
        Assert.Empty(Directory.GetFiles(dir.Path, ".*tmp*"));
        const string check = """
            import hashlib, os, struct, sys, zlib
            from PIL import Image
            d = sys.argv[1]
            for name in sorted(os.listdir(d)):
                data = open(os.path.join(d, name), "rb").read()
                assert data[:8] == b"\x89PNG\r\n\x1a\n"
                pos, types = 8, []
                while pos < len(data):
                    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
                    body = data[pos + 8:pos + 8 + length]
                    (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
                    assert crc == zlib.crc32(kind + body), (name, kind)
                    types.append(kind)
                    pos += 12 + length
                assert types[0] == b"IHDR" and types[-1] == b"IEND" and b"IDAT" in types, types
                im = Image.open(os.path.join(d, name))
                im.load()
                print(name, im.mode, im.size[0], im.size[1], hashlib.sha256(im.tobytes()).hexdigest())
            """;
        string[] lines = ImageOpsReference.RunPython(check, dir.Path).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(expected.Order(StringComparer.Ordinal), lines.Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(5, 3, 3)]
    [InlineData(17, 4, 1)]
    public void StbImage_DecodesOurPngs(int w, int h, int c)
    {
        byte[] px = Pixels(w * h * c, 7);
        byte[] png = PngFile.Encode(px, w, h, c);
        ImageResult image = ImageResult.FromMemory(png, c == 3 ? ColorComponents.RedGreenBlue : ColorComponents.Grey);
        Assert.Equal((w, h), (image.Width, image.Height));
        Assert.Equal(c == 3 ? ColorComponents.RedGreenBlue : ColorComponents.Grey, image.SourceComp);
        Assert.Equal(px, image.Data);
    }

    [Fact]
    public void Encode_RejectsWrongSizes()
    {
        Assert.Throws<ArgumentException>(() => PngFile.Encode(new byte[5], 2, 1, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => PngFile.Encode(new byte[8], 2, 1, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => PngFile.Encode([], 0, 1, 1));
    }
}
