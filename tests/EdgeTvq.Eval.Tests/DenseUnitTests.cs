using EdgeTvq.Eval.Dense;
using EdgeTvq.Runtime.Output;

namespace EdgeTvq.Eval.Tests;

/// <summary>The pieces of <c>edgetvq-eval dense</c> that need no zoo: median scaling, the grid, the normals layout, the distance.</summary>
public sealed class DenseUnitTests
{
    [Fact]
    public void MedianScaling_UsesValidPixelsOnly_AndNumpysEvenMedian()
    {
        // Valid targets 2, 4, 6, 8 (median 5); their predictions 1, 2, 3, 100 (median 2.5); the 0 target is ignored.
        float[] target = [2, 0, 4, 6, 8];
        float[] predicted = [1, 50, 2, 3, 100];
        Assert.Equal(2.0, MedianScaling.Factor(predicted, target), 12);
        Assert.Equal([2f, 100f, 4f, 6f, 200f], MedianScaling.Apply(predicted, target));
        Assert.True(double.IsNaN(MedianScaling.Factor([1f, 2f], [0f, 0f])));
        Assert.True(double.IsNaN(MedianScaling.Factor([0f, 0f], [1f, 2f])));
        // A prediction off by a constant factor has no error after scaling.
        float[] t = [1.5f, 2.5f, 3f, 7f, 0f];
        var depth = new DepthMetric();
        depth.Update(MedianScaling.Apply(t.Select(x => x * 0.25f).ToArray(), t), t);
        Assert.Equal(0, depth.Compute().Abs, 6);
    }

    [Fact]
    public void Grid_PlacesTilesRowMajorWithWhiteGaps_AndRefusesMixedSizes()
    {
        Tile Solid(byte v) => new(Enumerable.Repeat(v, 2 * 3 * 3).ToArray(), 2, 3);
        var (rgb, w, h) = DenseFigure.Compose([[Solid(10), Solid(20)], [Solid(30)]]);
        int g = DenseFigure.Gap;
        Assert.Equal(2 * 2 + 3 * g, w);
        Assert.Equal(2 * 3 + 3 * g, h);
        byte At(int x, int y) => rgb[(y * w + x) * 3];
        Assert.Equal(255, At(0, 0));
        Assert.Equal(10, At(g, g));
        Assert.Equal(10, At(g + 1, g + 2));
        Assert.Equal(255, At(g + 2, g));
        Assert.Equal(20, At(2 * g + 2, g));
        Assert.Equal(30, At(g, 2 * g + 3));
        Assert.Equal(255, At(2 * g + 2, 2 * g + 3)); // the short row leaves white
        Assert.Throws<ArgumentException>(() => DenseFigure.Compose([[Solid(1), new Tile(new byte[3 * 3 * 3], 3, 3)]]));

        string path = Path.Combine(Path.GetTempPath(), "edgetvq-grid-" + Guid.NewGuid().ToString("N")[..8] + ".png");
        try
        {
            DenseFigure.Write(path, [[Solid(10), Solid(20)]]);
            Assert.Equal(PngFile.Encode(DenseFigure.Compose([[Solid(10), Solid(20)]]).Rgb, 2 * 2 + 3 * g, 3 + 2 * g, 3), File.ReadAllBytes(path));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Tiles_UseTheRuntimeColours()
    {
        var seg = Tile.Segmentation([-1, 0, 1], 3, 1);
        Assert.Equal(new byte[] { 0, 0, 0 }, seg.Rgb[..3]);
        var (r, gr, b) = ColorMaps.SegmentationPalette(1);
        Assert.Equal(new[] { r, gr, b }, seg.Rgb[6..9]);
        var depth = Tile.Depth([0f, 1f, 3f], 3, 1, 1f, 3f);
        Assert.Equal(new byte[] { 0, 0, 0 }, depth.Rgb[..3]);
        var near = ColorMaps.DepthColor(0);
        var far = ColorMaps.DepthColor(1);
        Assert.Equal(new[] { near.R, near.G, near.B }, depth.Rgb[3..6]);
        Assert.Equal(new[] { far.R, far.G, far.B }, depth.Rgb[6..9]);
    }

    [Fact]
    public void Normals_GoFromPerPixelToChannelFirst()
    {
        // Two images of two pixels, [n, P, 3] → [n, 3, P].
        float[] interleaved = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        Assert.Equal([1f, 4f, 2f, 5f, 3f, 6f, 7f, 10f, 8f, 11f, 9f, 12f], DenseTestSet.ChannelFirst(interleaved, 2, 2));
    }

    [Fact]
    public void Distance_IsTheMeanRelativeChange_SignedByDirection()
    {
        var fp = new DenseScores { SegMeanIoU = 0.5, SegPixelAccuracy = 0.8, DepthAbs = 0.4, DepthRel = 0.2, NormalMean = 20 };
        var x = new DenseScores { SegMeanIoU = 0.45, SegPixelAccuracy = 0.8, DepthAbs = 0.44, DepthRel = 0.2, NormalMean = 18 };
        // mIoU 10 % worse, Abs 10 % worse, angle 10 % better.
        Assert.Equal((0.1 + 0.1 + 0.1) / 5, DenseReport.Distance(fp, x), 12);
        Assert.Equal((0.1 + 0.1 - 0.1) / 5, DenseReport.Loss(fp, x), 12);
    }

    [Fact]
    public void Plan_CoversTable3AndTableD()
    {
        var plan = DenseRun.Plan(null, null);
        // Table D: 9 schemes × Individual and TA; Table 3 adds TIES, MagMax, Breadcrumbs, EMR on its 4 schemes.
        Assert.Equal(9 * 2 + 4 * 4, plan.Count);
        Assert.Contains(plan, p => p.Scheme.Id == "RTVQ-B2O2" && p.Method.Id == "emr");
        Assert.DoesNotContain(plan, p => p.Scheme.Id == "FQ4" && p.Method.Id == "ties");
        Assert.Equal(2, DenseRun.Plan(["tvq2"], ["ta", "emr"]).Count);
    }
}
