using EdgeTvq.Runtime.Output;

namespace EdgeTvq.Runtime.Tests.ImageOps;

public sealed class ColorMapsTests
{
    [Fact]
    public void SegmentationPalette_IgnoreIsBlackAndClassesAreDistinct()
    {
        Assert.Equal(((byte)0, (byte)0, (byte)0), ColorMaps.SegmentationPalette(-1));
        Assert.Equal(((byte)0, (byte)0, (byte)0), ColorMaps.SegmentationPalette(int.MinValue));
        // Entries 1, 2, 3, 4, 8 of the VOC bit-interleaved palette.
        Assert.Equal(((byte)128, (byte)0, (byte)0), ColorMaps.SegmentationPalette(0));
        Assert.Equal(((byte)0, (byte)128, (byte)0), ColorMaps.SegmentationPalette(1));
        Assert.Equal(((byte)128, (byte)128, (byte)0), ColorMaps.SegmentationPalette(2));
        Assert.Equal(((byte)0, (byte)0, (byte)128), ColorMaps.SegmentationPalette(3));
        Assert.Equal(((byte)64, (byte)0, (byte)0), ColorMaps.SegmentationPalette(7));
        var seen = new HashSet<(byte, byte, byte)> { (0, 0, 0) };
        for (int k = 0; k < 4096; k++) Assert.True(seen.Add(ColorMaps.SegmentationPalette(k)), $"class {k} repeats a colour");

        var rgb = new byte[9];
        ColorMaps.ColorizeClasses([-1, 0, 3], rgb);
        Assert.Equal(new byte[] { 0, 0, 0, 128, 0, 0, 0, 0, 128 }, rgb);
    }

    [Fact]
    public void DepthToRgb_SpansValidRangeAndBlacksOutInvalid()
    {
        float[] depth = [2f, 0f, 6f, float.NaN, 4f, -1f, float.PositiveInfinity];
        var rgb = new byte[depth.Length * 3];
        var (min, max) = ColorMaps.DepthToRgb(depth, rgb);
        Assert.Equal((2f, 6f), (min, max));
        byte[] Px(int i) => rgb[(3 * i)..(3 * i + 3)];
        Assert.Equal(new byte[] { 255, 244, 214 }, Px(0));     // nearest: first anchor
        Assert.Equal(new byte[] { 24, 22, 64 }, Px(2));        // farthest: last anchor
        Assert.Equal(new byte[] { 214, 84, 92 }, Px(4));       // halfway: middle anchor
        foreach (int i in new[] { 1, 3, 5, 6 }) Assert.Equal(new byte[3], Px(i));

        // A constant map takes the near colour; a map without valid pixels is black with a NaN range.
        var one = new byte[6];
        ColorMaps.DepthToRgb([3f, 3f], one);
        Assert.Equal(new byte[] { 255, 244, 214, 255, 244, 214 }, one);
        Assert.True(float.IsNaN(ColorMaps.DepthToRgb([0f, float.NaN], one).Min));
        Assert.All(one, b => Assert.Equal(0, b));
    }

    [Fact]
    public void DepthColor_InterpolatesAndDarkensMonotonically()
    {
        // Halfway between the first two anchors (255,244,214) and (250,178,72): rounded half away from zero.
        Assert.Equal(((byte)253, (byte)211, (byte)143), ColorMaps.DepthColor(0.125));
        double previous = double.MaxValue;
        for (int i = 0; i <= 200; i++)
        {
            var (r, g, b) = ColorMaps.DepthColor(i / 200.0);
            double luma = 0.2126 * r + 0.7152 * g + 0.0722 * b;
            Assert.True(luma < previous, $"luma does not fall at t = {i / 200.0}");
            previous = luma;
        }
        Assert.Equal(ColorMaps.DepthColor(0), ColorMaps.DepthColor(-3));
        Assert.Equal(ColorMaps.DepthColor(1), ColorMaps.DepthColor(7));
    }

    [Fact]
    public void NormalsToRgb_MapsMinusOneToOneOntoBytes()
    {
        // 3 × 1 × 4, channel-first: x, y, z planes.
        float[] normals = [-1f, 0f, 1f, 2f, /**/ 0.5f, -0.5f, float.NaN, -3f, /**/ 0.002f, 1f, -1f, 0f];
        var rgb = new byte[12];
        ColorMaps.NormalsToRgb(normals, 1, 4, rgb);
        // (n + 1) / 2 · 255: 0 → 127.5 → 128; 0.5 → 191.25 → 191; −0.5 → 63.75 → 64; 0.002 → 127.755 → 128.
        Assert.Equal(new byte[] { 0, 191, 128, 128, 64, 255, 255, 0, 0, 255, 0, 128 }, rgb);
    }
}
