namespace EdgeTvq.Quantization;

/// <summary>Minimum and maximum of a tensor, refusing NaN and infinities.</summary>
public readonly record struct TensorRange(float Min, float Max)
{
    public double Width => (double)Max - Min;

    /// <summary>
    /// Scans <paramref name="values"/> once. Returns false (and the index of the first offending element)
    /// if any value is NaN or ±Inf; the caller turns that into an error naming the tensor and file.
    /// </summary>
    public static bool TryCompute(ReadOnlySpan<float> values, out TensorRange range, out long badIndex)
    {
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        for (int i = 0; i < values.Length; i++)
        {
            float v = values[i];
            if (!float.IsFinite(v))
            {
                range = default;
                badIndex = i;
                return false;
            }
            if (v < min) min = v;
            if (v > max) max = v;
        }
        range = new TensorRange(min, max);
        badIndex = -1;
        return true;
    }
}
