using EdgeTvq.Runtime.Input;
using static EdgeTvq.Runtime.Tests.ImageOps.ImageOpsReference;

namespace EdgeTvq.Runtime.Tests.ImageOps;

/// <summary><see cref="PilResize"/> against Pillow 9.4 and torchvision 0.14 (files of <see cref="ImageOpsReference"/>).</summary>
public sealed class PilResizeTests
{
    public static TheoryData<string> Sources => new()
    {
        "astronaut", "coffee", "chelsea", "astronaut_jpg", "coffee_jpg", "chelsea_jpg", "rand_rgb", "rand_small",
        "astronaut_L", "coffee_L", "chelsea_L", "astronaut_jpg_L", "coffee_jpg_L", "chelsea_jpg_L", "rand_rgb_L", "rand_small_L", "rand_gray",
    };

    public static TheoryData<string> RgbSources => new() { "astronaut", "coffee", "chelsea", "astronaut_jpg", "coffee_jpg", "chelsea_jpg", "rand_rgb", "rand_small" };

    /// <summary>Every size of resize.txt for one source (photos, the pixels PIL decoded from their JPEGs, noise): byte for byte.</summary>
    [Theory]
    [MemberData(nameof(Sources))]
    public void Resize_EqualsPillowBilinear(string source)
    {
        var cases = File.ReadAllLines(PathOf("resize.txt")).Select(l => l.Split(' ')).Where(f => f[0] == source).ToList();
        Assert.True(cases.Count >= 10, $"resize.txt has {cases.Count} cases for {source}");
        int channels = cases[0][1] == "RGB" ? 3 : 1;
        var (src, w, h) = LoadPng(source + ".png", channels);
        var failures = new List<string>();
        foreach (string[] f in cases)
        {
            int ow = int.Parse(f[2]), oh = int.Parse(f[3]);
            var (expected, ew, eh) = LoadPng(f[4], channels);
            Assert.Equal((ow, oh), (ew, eh));
            byte[] actual = PilResize.Resize(src, w, h, channels, ow, oh);
            Assert.Equal(expected.Length, actual.Length);
            int diffs = 0, maxDiff = 0;
            for (int i = 0; i < actual.Length; i++)
            {
                int d = Math.Abs(actual[i] - expected[i]);
                if (d != 0) diffs++;
                maxDiff = Math.Max(maxDiff, d);
            }
            if (diffs > 0) failures.Add($"{w}x{h} -> {ow}x{oh}: {diffs} bytes differ, max {maxDiff}");
        }
        Assert.True(failures.Count == 0, $"{source}: " + string.Join("; ", failures));
    }

    [Theory]
    [MemberData(nameof(RgbSources))]
    public void ToGray_EqualsPillowConvertL(string source)
    {
        var (rgb, w, h) = LoadPng(source + ".png", 3);
        var (expected, ew, eh) = LoadPng(source + "_L.png", 1);
        Assert.Equal((w, h), (ew, eh));
        Assert.Equal(expected, PilResize.ToGray(rgb));
    }

    [Fact]
    public void ToGray_UsesRoundedFixedPointLuma()
    {
        // (19595·R + 38470·G + 7471·B + 32768) >> 16: the weights sum to 65536, so gray stays gray.
        Assert.Equal(new byte[] { 0, 1, 255, 76, 150, 29, 128 }, PilResize.ToGray([0, 0, 0, 1, 1, 1, 255, 255, 255, 255, 0, 0, 0, 255, 0, 0, 0, 255, 128, 128, 128]));
    }

    [Fact]
    public void GrayToRgb_Replicates()
    {
        Assert.Equal(new byte[] { 3, 3, 3, 250, 250, 250 }, PilResize.GrayToRgb([3, 250]));
        byte[] gray = [0, 17, 99, 255];
        Assert.Equal(gray, PilResize.ToGray(PilResize.GrayToRgb(gray)));
    }

    [Theory]
    [InlineData("rand_small", 3)]
    [InlineData("rand_gray", 1)]
    public void CenterCrop_EqualsTorchvision(string source, int channels)
    {
        var (src, w, h) = LoadPng(source + ".png", channels);
        var cases = File.ReadAllLines(PathOf("crop.txt")).Select(l => l.Split(' ')).Where(f => f[0] == source).ToList();
        Assert.True(cases.Count >= 10);
        foreach (string[] f in cases)
        {
            int ch = int.Parse(f[1]), cw = int.Parse(f[2]);
            var (expected, ew, eh) = LoadPng(f[3], channels);
            Assert.Equal((cw, ch), (ew, eh));
            byte[] actual = PilResize.CenterCrop(src, w, h, channels, ch, cw);
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"{source} {w}x{h} crop {cw}x{ch} differs");
        }
    }

    [Fact]
    public void CenterCrop_RoundsHalfToEven()
    {
        // One row 0..9, crop widths leaving odd margins: 1 → offset 0 (round(0.5)), 3 → 2 (round(1.5)), 5 → 2 (round(2.5)).
        byte[] row = [.. Enumerable.Range(0, 10).Select(i => (byte)i)];
        Assert.Equal(new byte[] { 0, 1, 2, 3, 4, 5, 6, 7, 8 }, PilResize.CenterCrop(row, 10, 1, 1, 1, 9));
        Assert.Equal(new byte[] { 2, 3, 4, 5, 6, 7, 8 }, PilResize.CenterCrop(row, 10, 1, 1, 1, 7));
        Assert.Equal(new byte[] { 2, 3, 4, 5, 6 }, PilResize.CenterCrop(row, 10, 1, 1, 1, 5));
        // Larger than the image: (13 − 10) // 2 = 1 zero before, 2 after.
        Assert.Equal(new byte[] { 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0 }, PilResize.CenterCrop(row, 10, 1, 1, 1, 13));
    }

    [Fact]
    public void ShorterSide_EqualsTorchvisionResize()
    {
        string[] lines = File.ReadAllLines(PathOf("shorter_side.txt"));
        Assert.True(lines.Length > 300);
        foreach (string line in lines)
        {
            int[] v = [.. line.Split(' ').Select(int.Parse)];
            Assert.True((v[3], v[4]) == PilResize.ShorterSide(v[0], v[1], v[2]), $"{v[0]}x{v[1]} Resize({v[2]}): torchvision {v[3]}x{v[4]}, ours {PilResize.ShorterSide(v[0], v[1], v[2])}");
        }
    }

    [Theory]
    [MemberData(nameof(RgbSources))]
    public void RgbPipeline_EqualsTorchvisionPilPath(string source)
    {
        // Resize(256) → CenterCrop(224) → ToTensor → Normalize(ImageNet mean, std), composed from the primitives.
        var (rgb, w, h) = LoadPng(source + ".png", 3);
        var (rw, rh) = PilResize.ShorterSide(w, h, 256);
        byte[] resized = PilResize.Resize(rgb, w, h, 3, rw, rh);
        byte[] crop = PilResize.CenterCrop(resized, rw, rh, 3, 224, 224);
        float[] mean = [0.485f, 0.456f, 0.406f], std = [0.229f, 0.224f, 0.225f];
        float[] x = ToTensor(crop, 224, 224, 3, mean, std);
        AssertClose(Npy("pipe_rgb_" + source + ".npy", [3, 224, 224]), x, 1e-6f, source);
    }

    [Theory]
    [MemberData(nameof(RgbSources))]
    public void GrayPipeline_EqualsTorchvisionPilPath(string source)
    {
        var (rgb, w, h) = LoadPng(source + ".png", 3);
        byte[] gray = PilResize.ToGray(rgb);
        // Grayscale → Resize(48) → ToTensor → Normalize((0.1307,), (0.3081,))
        var (rw, rh) = PilResize.ShorterSide(w, h, 48);
        float[] x = ToTensor(PilResize.Resize(gray, w, h, 1, rw, rh), rw, rh, 1, [0.1307f], [0.3081f]);
        AssertClose(Npy("pipe_gray48_" + source + ".npy", [1, rh, rw]), x, 1e-6f, source + " Resize(48)");
        // Grayscale → Resize((28, 28)) → ToTensor → Normalize
        x = ToTensor(PilResize.Resize(gray, w, h, 1, 28, 28), 28, 28, 1, [0.1307f], [0.3081f]);
        AssertClose(Npy("pipe_gray28x28_" + source + ".npy", [1, 28, 28]), x, 1e-6f, source + " Resize((28, 28))");
    }

    [Fact]
    public void Resize_UnchangedSizeCopiesAndBadArgumentsThrow()
    {
        byte[] src = [1, 2, 3, 4, 5, 6];
        byte[] same = PilResize.Resize(src, 2, 3, 1, 2, 3);
        Assert.Equal(src, same);
        Assert.NotSame(src, same);
        Assert.Throws<ArgumentException>(() => PilResize.Resize(src, 2, 2, 1, 4, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => PilResize.Resize(src, 2, -3, 1, 4, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => PilResize.Resize(src, 2, 3, 1, 0, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => PilResize.Resize(src, 3, 1, 2, 4, 4));
    }

    /// <summary>The runtime's normalisation: HWC bytes to CHW float32 <c>(p / 255 − mean) / std</c>.</summary>
    static float[] ToTensor(byte[] hwc, int w, int h, int c, float[] mean, float[] std)
    {
        var x = new float[c * h * w];
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < h * w; i++)
                x[ch * h * w + i] = (hwc[i * c + ch] / 255f - mean[ch]) / std[ch];
        return x;
    }

    static float[] Npy(string file, int[] shape)
    {
        var a = EdgeTvq.Runtime.Output.NpyFile.Read(PathOf(file));
        Assert.Equal(shape, a.Shape);
        return a.Floats!;
    }

    internal static float AssertClose(float[] expected, float[] actual, float tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        float max = 0;
        for (int i = 0; i < expected.Length; i++) max = Math.Max(max, Math.Abs(expected[i] - actual[i]));
        Assert.False(float.IsNaN(max), what + ": NaN");
        Assert.True(max <= tolerance, $"{what}: max |difference| {max:G9} > {tolerance}");
        return max;
    }
}
