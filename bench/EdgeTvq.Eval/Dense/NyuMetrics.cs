namespace EdgeTvq.Eval.Dense;

/// <summary>
/// The NYUv2 metrics as the reference code computes them (FusionBench fusion_bench/metrics/nyuv2, the same as
/// mtan's): one accumulator per task, fed batch by batch. Sums are kept in double; the reference keeps float32, so
/// results agree to float32 rounding. docs/results-dense.md says what each number means.
/// </summary>
public sealed class SegmentationMetric(int classes = 13)
{
    /// <summary>Confusion counts: row = target class, column = predicted class.</summary>
    private readonly long[] _record = new long[classes * classes];

    public int Classes { get; } = classes;

    /// <summary>
    /// Adds predicted classes (the arg-max per pixel) against targets; pixels whose target is outside [0, classes)
    /// (−1 = ignore) are not counted, as the reference code's mask does.
    /// </summary>
    public void Update(ReadOnlySpan<int> predicted, ReadOnlySpan<int> target)
    {
        if (predicted.Length != target.Length) throw new ArgumentException($"{predicted.Length} predictions for {target.Length} targets");
        for (int i = 0; i < target.Length; i++)
        {
            int t = target[i];
            if (t < 0 || t >= Classes) continue;
            int p = predicted[i];
            if (p < 0 || p >= Classes) throw new ArgumentException($"predicted class {p} is outside [0, {Classes})");
            _record[t * Classes + p]++;
        }
    }

    /// <summary>
    /// IoU per class = diag / (row + column − diag); mIoU their plain mean (NaN when a class is absent from both
    /// targets and predictions, as in the reference); pixel accuracy = trace / total.
    /// </summary>
    public (double MeanIoU, double PixelAccuracy, double[] IoU) Compute()
    {
        var iou = new double[Classes];
        long trace = 0, total = 0;
        for (int c = 0; c < Classes; c++)
        {
            long row = 0, column = 0, diag = _record[c * Classes + c];
            for (int k = 0; k < Classes; k++) { row += _record[c * Classes + k]; column += _record[k * Classes + c]; }
            iou[c] = (double)diag / (row + column - diag);
            trace += diag;
            total += row;
        }
        return (iou.Average(), (double)trace / total, iou);
    }
}

/// <summary>
/// Depth errors over pixels whose target is not 0. Per batch: abs = Σ|p − t| / valid and rel = Σ(|p − t| / t) / valid;
/// the batches are then averaged with weights. The reference code's weight is the size of its masked prediction
/// tensor, which is the batch's number of valid pixels (not its number of images), so the result is the mean over all
/// valid pixels of the test set; this does the same.
/// </summary>
public sealed class DepthMetric
{
    private double _abs, _rel, _weight;

    public void Update(ReadOnlySpan<float> predicted, ReadOnlySpan<float> target)
    {
        if (predicted.Length != target.Length) throw new ArgumentException($"{predicted.Length} predictions for {target.Length} targets");
        double abs = 0, rel = 0;
        long valid = 0;
        for (int i = 0; i < target.Length; i++)
        {
            float t = target[i];
            if (t == 0) continue;
            double e = Math.Abs((double)predicted[i] - t);
            abs += e;
            rel += e / t;
            valid++;
        }
        if (valid == 0) return; // the reference divides by zero here; a batch without valid pixels adds nothing
        _abs += abs / valid * valid;
        _rel += rel / valid * valid;
        _weight += valid;
    }

    public (double Abs, double Rel) Compute() => (_abs / _weight, _rel / _weight);
}

/// <summary>
/// Surface-normal angle errors: the prediction is L2-normalised per pixel; a pixel is valid where the target's
/// component sum is not 0; error = acos(clamp(p·t, −1, 1)) in degrees, pooled over all valid pixels. Mean, median
/// (the lower middle value for an even count, as torch.median) and the fractions below 11.25°, 22.5° and 30°.
/// </summary>
public sealed class NormalMetric
{
    private readonly List<double> _errors = [];

    /// <summary>Adds one image: prediction and target both [3, H, W].</summary>
    public void Update(ReadOnlySpan<float> predicted, ReadOnlySpan<float> target)
    {
        if (predicted.Length != target.Length || target.Length % 3 != 0) throw new ArgumentException("normals must be [3, H, W] with equal shapes");
        int plane = target.Length / 3;
        for (int i = 0; i < plane; i++)
        {
            double tx = target[i], ty = target[plane + i], tz = target[2 * plane + i];
            if (tx + ty + tz == 0) continue;
            double px = predicted[i], py = predicted[plane + i], pz = predicted[2 * plane + i];
            double norm = Math.Sqrt(px * px + py * py + pz * pz);
            double dot = (px * tx + py * ty + pz * tz) / norm;
            _errors.Add(Math.Acos(Math.Clamp(dot, -1, 1)) * 180 / Math.PI);
        }
    }

    public (double Mean, double Median, double Below11, double Below22, double Below30) Compute()
    {
        if (_errors.Count == 0) return (0, 0, 0, 0, 0);
        var sorted = _errors.Order().ToArray();
        double Share(double limit) => _errors.Count(e => e < limit) / (double)_errors.Count;
        return (_errors.Average(), sorted[(sorted.Length - 1) / 2], Share(11.25), Share(22.5), Share(30));
    }
}

/// <summary>
/// Median scaling, the usual protocol for a depth model applied to scenes it was not trained on (its metric scale
/// does not transfer): the prediction times median(target) / median(prediction), both medians over the pixels whose
/// target is valid (not 0), each the mean of the two middle values for an even count (numpy.median).
/// </summary>
public static class MedianScaling
{
    /// <summary>The factor median(target) / median(prediction) over valid pixels; NaN when no pixel is valid or the prediction's median is 0.</summary>
    public static double Factor(ReadOnlySpan<float> predicted, ReadOnlySpan<float> target)
    {
        if (predicted.Length != target.Length) throw new ArgumentException($"{predicted.Length} predictions for {target.Length} targets");
        var p = new List<double>();
        var t = new List<double>();
        for (int i = 0; i < target.Length; i++)
        {
            if (target[i] == 0) continue;
            p.Add(predicted[i]);
            t.Add(target[i]);
        }
        if (t.Count == 0) return double.NaN;
        double mp = Median(p);
        return mp == 0 ? double.NaN : Median(t) / mp;
    }

    /// <summary>The prediction scaled by <see cref="Factor"/>.</summary>
    public static float[] Apply(ReadOnlySpan<float> predicted, ReadOnlySpan<float> target)
    {
        double f = Factor(predicted, target);
        var scaled = new float[predicted.Length];
        for (int i = 0; i < scaled.Length; i++) scaled[i] = (float)(predicted[i] * f);
        return scaled;
    }

    public static double Median(List<double> values)
    {
        values.Sort();
        int n = values.Count;
        return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    }
}
