using EdgeTvq.Runtime.Output;
using static EdgeTvq.Runtime.Tests.ImageOps.ImageOpsReference;

namespace EdgeTvq.Runtime.Tests.ImageOps;

/// <summary><see cref="DenseMaps"/> against torch 1.13 (files of <see cref="ImageOpsReference"/>).</summary>
public sealed class DenseMapsTests
{
    [Fact]
    public void UpsampleBilinear_EqualsTorchInterpolateAlignCorners()
    {
        string[] lines = File.ReadAllLines(PathOf("upsample.txt"));
        Assert.True(lines.Length >= 10);
        foreach (string line in lines)
        {
            int[] v = [.. line.Split(' ').Select(int.Parse)];
            int k = v[0], c = v[1], h = v[2], w = v[3], oh = v[4], ow = v[5];
            NpyArray input = NpyFile.Read(PathOf($"up_{k}_in.npy")), expected = NpyFile.Read(PathOf($"up_{k}_out.npy"));
            Assert.Equal(new[] { c, h, w }, input.Shape);
            Assert.Equal(new[] { c, oh, ow }, expected.Shape);
            var actual = new float[c * oh * ow];
            DenseMaps.UpsampleBilinear(input.Floats, c, h, w, oh, ow, actual);
            PilResizeTests.AssertClose(expected.Floats!, actual, 1e-6f, $"{c}x{h}x{w} -> {oh}x{ow}");
        }
    }

    [Fact]
    public void UpsampleBilinear_HitsCornersAndMidpoints()
    {
        // align_corners=True: the corners land on the input's corners, 2 → 3 puts the mean in the middle.
        float[] src = [0, 10, 20, 30];
        var dst = new float[9];
        DenseMaps.UpsampleBilinear(src, 1, 2, 2, 3, 3, dst);
        Assert.Equal(new float[] { 0, 5, 10, 10, 15, 20, 20, 25, 30 }, dst);
        var one = new float[1];
        DenseMaps.UpsampleBilinear(src, 1, 2, 2, 1, 1, one);
        Assert.Equal(0f, one[0]);
        Assert.Throws<ArgumentException>(() => DenseMaps.UpsampleBilinear(src, 1, 2, 2, 3, 3, new float[8]));
    }

    [Fact]
    public void ArgMax_EqualsTorchAndFirstMaxWinsTies()
    {
        NpyArray logits = NpyFile.Read(PathOf("argmax_in.npy")), expected = NpyFile.Read(PathOf("argmax_out.npy"));
        Assert.Equal("<i4", expected.Dtype);
        int c = logits.Shape[0], h = logits.Shape[1], w = logits.Shape[2];
        var actual = new int[h * w];
        DenseMaps.ArgMax(logits.Floats, c, h, w, actual);
        Assert.Equal(expected.Ints, actual);

        // 3 channels × 4 pixels: ties at pixels 0 and 1, a NaN first channel at pixel 2, all equal at pixel 3.
        float[] tied = [1, 5, float.NaN, 2, /**/ 3, 5, 1, 2, /**/ 3, 4, 0, 2];
        var idx = new int[4];
        DenseMaps.ArgMax(tied, 3, 1, 4, idx);
        Assert.Equal(new[] { 1, 0, 1, 0 }, idx);
    }

    [Fact]
    public void L2NormalizeChannels_EqualsTorchNormAndKeepsZeroVectors()
    {
        NpyArray input = NpyFile.Read(PathOf("l2_in.npy")), expected = NpyFile.Read(PathOf("l2_out.npy"));
        int c = input.Shape[0], h = input.Shape[1], w = input.Shape[2];
        float[] map = input.Floats!;
        DenseMaps.L2NormalizeChannels(map, c, h, w);
        PilResizeTests.AssertClose(expected.Floats!, map, 1e-6f, "L2 normalisation");

        float[] zero = [0, 3, /**/ 0, 4];
        DenseMaps.L2NormalizeChannels(zero, 2, 1, 2);
        Assert.Equal(new float[] { 0, 0.6f, 0, 0.8f }, zero);
    }
}
