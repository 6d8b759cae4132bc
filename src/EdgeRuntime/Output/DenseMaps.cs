namespace EdgeTvq.Runtime.Output;

/// <summary>
/// Operations on dense model outputs stored channel-first (channels × h × w, one image, float32): bilinear
/// upsampling as torch's <c>F.interpolate(..., mode="bilinear", align_corners=True)</c>, arg-max over channels and
/// per-pixel L2 normalisation. docs/image-ops.md states the exact semantics.
/// </summary>
public static class DenseMaps
{
    /// <summary>
    /// torch 1.13 <c>F.interpolate(x, size=(outH, outW), mode="bilinear", align_corners=True)</c> on CPU float32, per
    /// channel. Per axis, as torch computes it in float32: the scale is <c>(in − 1) / (out − 1)</c> (0 when out = 1),
    /// the source position <c>scale · i</c>, its floor the first tap (at most in − 1), the second tap one further
    /// unless at the last index, the weights <c>λ = clamp(pos − floor, 0, 1)</c> and <c>1 − λ</c>; an axis whose size
    /// does not change copies. A value is <c>wy0 · (wx0·a + wx1·b) + wy1 · (wx0·c + wx1·d)</c>. torch's CPU kernel is
    /// compiled with multiply-adds contracted to FMA; λ = fma(scale, i, −floor) and the sums use fused multiply-adds
    /// here too, which brings the result within a few float32 ulps of torch (bit-equal on most sizes; ≤ 5e-7 measured).
    /// </summary>
    public static void UpsampleBilinear(ReadOnlySpan<float> src, int channels, int h, int w, int outH, int outW, Span<float> dst)
    {
        CheckMap(src.Length, channels, h, w, nameof(src));
        if (outH <= 0 || outW <= 0) throw new ArgumentOutOfRangeException(nameof(outH), $"output size {outH}x{outW} must be positive");
        if (dst.Length != (long)channels * outH * outW)
            throw new ArgumentException($"destination has {dst.Length} values, expected {channels}x{outH}x{outW}", nameof(dst));

        Span<int> x0 = outW <= 1024 ? stackalloc int[outW] : new int[outW];
        Span<int> x1 = outW <= 1024 ? stackalloc int[outW] : new int[outW];
        Span<float> wx0 = outW <= 1024 ? stackalloc float[outW] : new float[outW];
        Span<float> wx1 = outW <= 1024 ? stackalloc float[outW] : new float[outW];
        AxisTaps(w, outW, x0, x1, wx0, wx1);
        int[] y0 = new int[outH], y1 = new int[outH];
        float[] wy0 = new float[outH], wy1 = new float[outH];
        AxisTaps(h, outH, y0, y1, wy0, wy1);

        for (int c = 0; c < channels; c++)
        {
            ReadOnlySpan<float> plane = src.Slice(c * h * w, h * w);
            Span<float> outPlane = dst.Slice(c * outH * outW, outH * outW);
            for (int oy = 0; oy < outH; oy++)
            {
                ReadOnlySpan<float> rowA = plane.Slice(y0[oy] * w, w), rowB = plane.Slice(y1[oy] * w, w);
                float a = wy0[oy], b = wy1[oy];
                Span<float> outRow = outPlane.Slice(oy * outW, outW);
                for (int ox = 0; ox < outW; ox++)
                {
                    int i0 = x0[ox], i1 = x1[ox];
                    float l0 = wx0[ox], l1 = wx1[ox];
                    float top = MathF.FusedMultiplyAdd(rowA[i0], l0, rowA[i1] * l1);
                    float bottom = MathF.FusedMultiplyAdd(rowB[i0], l0, rowB[i1] * l1);
                    outRow[ox] = MathF.FusedMultiplyAdd(top, a, bottom * b);
                }
            }
        }
    }

    /// <summary>torch's compute_source_index_and_lambda for align_corners=True, in float32.</summary>
    static void AxisTaps(int inSize, int outSize, Span<int> i0, Span<int> i1, Span<float> w0, Span<float> w1)
    {
        if (inSize == outSize)
        {
            for (int i = 0; i < outSize; i++)
            {
                i0[i] = i1[i] = i;
                w0[i] = 1f;
                w1[i] = 0f;
            }
            return;
        }
        float scale = outSize > 1 ? (float)(inSize - 1) / (outSize - 1) : 0f;
        for (int i = 0; i < outSize; i++)
        {
            float pos = scale * i;
            int first = Math.Min((int)MathF.Floor(pos), inSize - 1);
            // pos − first as one fused multiply-add, as torch's FMA-contracted x86-64 AVX2 / arm64 kernels compute it:
            // rounding the product first loses up to half an ulp of pos (≈ 5e-7 at 8), visible in the output.
            float lambda = Math.Clamp(MathF.FusedMultiplyAdd(scale, i, -first), 0f, 1f);
            i0[i] = first;
            i1[i] = first + (first < inSize - 1 ? 1 : 0);
            w1[i] = lambda;
            w0[i] = 1f - lambda;
        }
    }

    /// <summary>
    /// The index of the largest channel at each pixel (the first one on ties; a NaN never wins unless every channel
    /// is NaN, then 0). <paramref name="dst"/> holds h × w indices.
    /// </summary>
    public static void ArgMax(ReadOnlySpan<float> src, int channels, int h, int w, Span<int> dst)
    {
        CheckMap(src.Length, channels, h, w, nameof(src));
        int plane = h * w;
        if (dst.Length != plane) throw new ArgumentException($"destination has {dst.Length} values, expected {h}x{w}", nameof(dst));
        Span<float> best = plane <= 4096 ? stackalloc float[plane] : new float[plane];
        src[..plane].CopyTo(best);
        dst.Clear();
        for (int c = 1; c < channels; c++)
        {
            ReadOnlySpan<float> channel = src.Slice(c * plane, plane);
            for (int i = 0; i < plane; i++)
            {
                float v = channel[i];
                if (v > best[i] || (float.IsNaN(best[i]) && !float.IsNaN(v)))
                {
                    best[i] = v;
                    dst[i] = c;
                }
            }
        }
    }

    /// <summary>
    /// Divides each pixel's channel vector by its Euclidean norm, in place: torch's
    /// <c>x / torch.norm(x, p=2, dim=1, keepdim=True)</c>. The sum of squares is accumulated in double, its square
    /// root rounded to float32, and each component divided in float32. Where the norm is 0 torch gives NaN (0/0);
    /// this keeps the zero vector instead.
    /// </summary>
    public static void L2NormalizeChannels(Span<float> map, int channels, int h, int w)
    {
        CheckMap(map.Length, channels, h, w, nameof(map));
        int plane = h * w;
        Span<double> sums = plane <= 2048 ? stackalloc double[plane] : new double[plane];
        sums.Clear();
        for (int c = 0; c < channels; c++)
        {
            ReadOnlySpan<float> channel = map.Slice(c * plane, plane);
            for (int i = 0; i < plane; i++) sums[i] += (double)channel[i] * channel[i];
        }
        Span<float> norms = plane <= 4096 ? stackalloc float[plane] : new float[plane];
        for (int i = 0; i < plane; i++) norms[i] = (float)Math.Sqrt(sums[i]);
        for (int c = 0; c < channels; c++)
        {
            Span<float> channel = map.Slice(c * plane, plane);
            for (int i = 0; i < plane; i++)
                if (norms[i] != 0f) channel[i] /= norms[i];
        }
    }

    static void CheckMap(int length, int channels, int h, int w, string name)
    {
        if (channels <= 0 || h <= 0 || w <= 0) throw new ArgumentOutOfRangeException(name, $"map shape {channels}x{h}x{w} must be positive");
        if (length != (long)channels * h * w) throw new ArgumentException($"map has {length} values, expected {channels}x{h}x{w}", name);
    }
}
