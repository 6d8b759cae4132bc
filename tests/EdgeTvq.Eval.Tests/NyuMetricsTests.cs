using EdgeTvq.Eval.Dense;

namespace EdgeTvq.Eval.Tests;

/// <summary>The NYUv2 metrics on cases small enough to compute by hand.</summary>
public class NyuMetricsTests
{
    [Fact]
    public void Segmentation_uses_one_confusion_matrix_and_skips_ignored_pixels()
    {
        var m = new SegmentationMetric(3);
        // targets 0 0 1 1 2 −1 ; predictions 0 1 1 1 0 2 (the last pixel is ignored)
        m.Update([0, 1, 1, 1, 0, 2], [0, 0, 1, 1, 2, -1]);
        // second batch: target 2 predicted 2, target 13 (outside [0, 3)) ignored
        m.Update([2, 0], [2, 13]);
        var (miou, acc, iou) = m.Compute();
        // confusion rows (target) x columns (prediction): [[1,1,0],[0,2,0],[1,0,1]]
        // IoU0 = 1/(2+2−1) = 1/3; IoU1 = 2/(2+3−2) = 2/3; IoU2 = 1/(2+1−1) = 1/2
        Assert.Equal(1.0 / 3, iou[0], 12);
        Assert.Equal(2.0 / 3, iou[1], 12);
        Assert.Equal(0.5, iou[2], 12);
        Assert.Equal((1.0 / 3 + 2.0 / 3 + 0.5) / 3, miou, 12);
        Assert.Equal(4.0 / 6, acc, 12);
    }

    [Fact]
    public void Segmentation_mean_is_nan_when_a_class_never_appears_as_in_the_reference()
    {
        var m = new SegmentationMetric(3);
        m.Update([0, 1], [0, 1]);
        Assert.True(double.IsNaN(m.Compute().MeanIoU));
        Assert.Equal(1.0, m.Compute().PixelAccuracy);
    }

    [Fact]
    public void Depth_errors_skip_zero_targets_and_weight_batches_by_their_valid_pixels()
    {
        var m = new DepthMetric();
        m.Update([1, 2, 5], [2, 0, 4]);        // valid: |1−2| = 1 (rel 0.5), |5−4| = 1 (rel 0.25)
        m.Update([3, 3, 3, 3], [3, 1, 6, 0]);  // valid: 0, 2 (rel 2), 3 (rel 0.5)
        var (abs, rel) = m.Compute();
        Assert.Equal((1 + 1 + 0 + 2 + 3) / 5.0, abs, 12);
        Assert.Equal((0.5 + 0.25 + 0 + 2 + 0.5) / 5.0, rel, 12);
    }

    [Fact]
    public void Normal_errors_normalise_the_prediction_and_pool_angles_over_valid_pixels()
    {
        var m = new NormalMetric();
        // four pixels, planes x | y | z: target (0,0,1) ×3 and (0,0,0) invalid;
        // predictions: (0,0,5) → 0°, (1,0,1) → 45°, (0,1,0) → 90°, anything for the invalid pixel
        float[] target = [0, 0, 0, 0, /* y */ 0, 0, 0, 0, /* z */ 1, 1, 1, 0];
        float[] predicted = [0, 1, 0, 7, /* y */ 0, 0, 1, 7, /* z */ 5, 1, 0, 7];
        m.Update(predicted, target);
        var (mean, median, below11, below22, below30) = m.Compute();
        Assert.Equal(45.0, mean, 6);
        Assert.Equal(45.0, median, 6);
        Assert.Equal(1.0 / 3, below11, 12);
        Assert.Equal(1.0 / 3, below22, 12);
        Assert.Equal(1.0 / 3, below30, 12);
        m.Update([0, 0, 1], [0, 0, 1]); // a fourth angle, 0°: the median of {0, 0, 45, 90} is the lower middle, 0
        Assert.Equal(0.0, m.Compute().Median, 6);
        Assert.Equal(0.5, m.Compute().Below11, 12);
    }
}
