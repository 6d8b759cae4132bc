namespace EdgeTvq.Runtime.Input;

/// <summary>
/// The image operations of a torchvision 0.14 "PIL path" preprocessing pipeline, reproduced bit for bit on 8-bit
/// interleaved pixels (1 channel = Pillow mode "L", 3 channels = mode "RGB"): Pillow 9.4's bilinear
/// <c>Image.resize</c>, torchvision's <c>Resize(int)</c> size rule and <c>CenterCrop</c>, Pillow's RGB→L conversion.
/// docs/image-ops.md states the exact semantics.
/// </summary>
public static class PilResize
{
    /// <summary>Fixed-point precision of Pillow's 8-bit resampling coefficients (32 − 8 − 2).</summary>
    const int PrecisionBits = 22;

    /// <summary>
    /// Pillow 9.4 <c>Image.resize((outWidth, outHeight), Image.BILINEAR)</c> without a box or reducing gap: a
    /// horizontal pass, then a vertical pass, each skipped when its size does not change; a triangle filter of
    /// support 1 widened by the downscale factor, coefficients normalised in double and rounded to 22-bit fixed point.
    /// </summary>
    public static byte[] Resize(ReadOnlySpan<byte> src, int width, int height, int channels, int outWidth, int outHeight)
    {
        CheckImage(src, width, height, channels);
        if (outWidth <= 0 || outHeight <= 0)
            throw new ArgumentOutOfRangeException(nameof(outWidth), $"output size {outWidth}x{outHeight} must be positive");

        bool horizontal = outWidth != width, vertical = outHeight != height;
        if (!horizontal && !vertical) return src.ToArray();

        byte[] rows = horizontal ? new byte[outWidth * height * channels] : src.ToArray();
        if (horizontal)
        {
            var (bounds, weights, kSize) = Coefficients(width, outWidth);
            HorizontalPass(src, width, height, channels, rows, outWidth, bounds, weights, kSize);
        }
        if (!vertical) return rows;

        var (vBounds, vWeights, vKSize) = Coefficients(height, outHeight);
        byte[] dst = new byte[outWidth * outHeight * channels];
        VerticalPass(rows, outWidth, channels, dst, outHeight, vBounds, vWeights, vKSize);
        return dst;
    }

    /// <summary>
    /// Pillow's precompute_coeffs for the bilinear filter over the whole axis, followed by normalize_coeffs_8bpc:
    /// for each output index, the first input index, the number of taps, and <paramref name="kSize"/> fixed-point weights.
    /// </summary>
    internal static (int[] Bounds, int[] Weights, int KSize) Coefficients(int inSize, int outSize)
    {
        double scale = (double)inSize / outSize; // Pillow: (double)(in1 - in0) / outSize with the box (0, inSize)
        double filterScale = scale < 1.0 ? 1.0 : scale;
        double support = 1.0 * filterScale;      // bilinear filter support 1
        int kSize = (int)Math.Ceiling(support) * 2 + 1;

        var bounds = new int[outSize * 2];
        var weights = new int[outSize * kSize];
        Span<double> k = kSize <= 512 ? stackalloc double[kSize] : new double[kSize];
        double invFilterScale = 1.0 / filterScale;
        for (int xx = 0; xx < outSize; xx++)
        {
            double center = (xx + 0.5) * scale;
            int xmin = (int)(center - support + 0.5); // C truncation toward zero, as Pillow's cast
            if (xmin < 0) xmin = 0;
            int xmax = (int)(center + support + 0.5);
            if (xmax > inSize) xmax = inSize;
            xmax -= xmin;

            double sum = 0.0;
            for (int x = 0; x < xmax; x++)
            {
                double w = Triangle((x + xmin - center + 0.5) * invFilterScale);
                k[x] = w;
                sum += w;
            }
            Span<int> row = weights.AsSpan(xx * kSize, kSize);
            for (int x = 0; x < xmax; x++)
            {
                double w = sum != 0.0 ? k[x] / sum : k[x];
                row[x] = w < 0 ? (int)(-0.5 + w * (1 << PrecisionBits)) : (int)(0.5 + w * (1 << PrecisionBits));
            }
            bounds[xx * 2] = xmin;
            bounds[xx * 2 + 1] = xmax;
        }
        return (bounds, weights, kSize);
    }

    static double Triangle(double x)
    {
        if (x < 0.0) x = -x;
        return x < 1.0 ? 1.0 - x : 0.0;
    }

    /// <summary>Pillow's clip8: the accumulator shifted down by the precision, clamped to 0..255.</summary>
    static byte Clip8(int acc)
    {
        int v = acc >> PrecisionBits;
        return v < 0 ? (byte)0 : v > 255 ? (byte)255 : (byte)v;
    }

    static void HorizontalPass(ReadOnlySpan<byte> src, int width, int height, int channels, Span<byte> dst, int outWidth,
        int[] bounds, int[] weights, int kSize)
    {
        for (int y = 0; y < height; y++)
        {
            ReadOnlySpan<byte> inRow = src.Slice(y * width * channels, width * channels);
            Span<byte> outRow = dst.Slice(y * outWidth * channels, outWidth * channels);
            for (int xx = 0; xx < outWidth; xx++)
            {
                int xmin = bounds[xx * 2], count = bounds[xx * 2 + 1];
                ReadOnlySpan<int> k = weights.AsSpan(xx * kSize, count);
                for (int c = 0; c < channels; c++)
                {
                    int acc = 1 << (PrecisionBits - 1);
                    int p = xmin * channels + c;
                    for (int x = 0; x < k.Length; x++, p += channels) acc += inRow[p] * k[x];
                    outRow[xx * channels + c] = Clip8(acc);
                }
            }
        }
    }

    static void VerticalPass(ReadOnlySpan<byte> src, int width, int channels, Span<byte> dst, int outHeight,
        int[] bounds, int[] weights, int kSize)
    {
        int stride = width * channels;
        for (int yy = 0; yy < outHeight; yy++)
        {
            int ymin = bounds[yy * 2], count = bounds[yy * 2 + 1];
            ReadOnlySpan<int> k = weights.AsSpan(yy * kSize, count);
            Span<byte> outRow = dst.Slice(yy * stride, stride);
            for (int i = 0; i < stride; i++)
            {
                int acc = 1 << (PrecisionBits - 1);
                int p = ymin * stride + i;
                for (int y = 0; y < k.Length; y++, p += stride) acc += src[p] * k[y];
                outRow[i] = Clip8(acc);
            }
        }
    }

    /// <summary>
    /// torchvision 0.14 <c>Resize(size)</c> with an int size (no max_size): the shorter side becomes
    /// <paramref name="size"/>, the longer one <c>int(size * long / short)</c> (a double division, truncated);
    /// when width equals height both become <paramref name="size"/>. If the result equals the input size torchvision
    /// returns the image unchanged, which <see cref="Resize"/> also does for an unchanged size.
    /// </summary>
    public static (int W, int H) ShorterSide(int width, int height, int size)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"image size {width}x{height} must be positive");
        if (size <= 0) throw new ArgumentOutOfRangeException(nameof(size), $"size {size} must be positive");
        (int shortSide, int longSide) = width <= height ? (width, height) : (height, width);
        int newLong = (int)((double)((long)size * longSide) / shortSide);
        return width <= height ? (size, newLong) : (newLong, size);
    }

    /// <summary>
    /// torchvision 0.14 <c>CenterCrop((cropH, cropW))</c> on a PIL image. A crop larger than the image along an axis
    /// first pads that axis with zeros, <c>(crop − size) // 2</c> before and <c>(crop − size + 1) // 2</c> after; then
    /// the crop starts at <c>round((size − crop) / 2)</c> with Python's round (half to even).
    /// </summary>
    public static byte[] CenterCrop(ReadOnlySpan<byte> src, int w, int h, int c, int cropH, int cropW)
    {
        CheckImage(src, w, h, c);
        if (cropH <= 0 || cropW <= 0) throw new ArgumentOutOfRangeException(nameof(cropH), $"crop {cropW}x{cropH} must be positive");
        // Position of the crop's top-left corner in source coordinates (negative where padding lies before the image).
        int top = cropH > h ? -((cropH - h) / 2) : (int)Math.Round((h - cropH) / 2.0, MidpointRounding.ToEven);
        int left = cropW > w ? -((cropW - w) / 2) : (int)Math.Round((w - cropW) / 2.0, MidpointRounding.ToEven);

        var dst = new byte[cropW * cropH * c];
        int x0 = Math.Max(0, -left), x1 = Math.Min(cropW, w - left); // destination columns covered by the image
        if (x1 <= x0) return dst;
        for (int y = 0; y < cropH; y++)
        {
            int sy = y + top;
            if (sy < 0 || sy >= h) continue;
            src.Slice((sy * w + left + x0) * c, (x1 - x0) * c).CopyTo(dst.AsSpan((y * cropW + x0) * c));
        }
        return dst;
    }

    /// <summary>
    /// Pillow 9.4's RGB→L conversion (<c>convert("L")</c>): <c>L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16</c>,
    /// the ITU-R 601-2 luma weights 0.299/0.587/0.114 in 16-bit fixed point, rounded.
    /// </summary>
    public static byte[] ToGray(ReadOnlySpan<byte> rgb)
    {
        if (rgb.Length % 3 != 0) throw new ArgumentException($"RGB data length {rgb.Length} is not a multiple of 3", nameof(rgb));
        var dst = new byte[rgb.Length / 3];
        for (int i = 0, p = 0; i < dst.Length; i++, p += 3)
            dst[i] = (byte)((rgb[p] * 19595 + rgb[p + 1] * 38470 + rgb[p + 2] * 7471 + 0x8000) >> 16);
        return dst;
    }

    /// <summary>Gray to RGB by replicating each value into three channels (Pillow's L→RGB).</summary>
    public static byte[] GrayToRgb(ReadOnlySpan<byte> gray)
    {
        var dst = new byte[gray.Length * 3];
        for (int i = 0, p = 0; i < gray.Length; i++, p += 3)
            dst[p] = dst[p + 1] = dst[p + 2] = gray[i];
        return dst;
    }

    static void CheckImage(ReadOnlySpan<byte> src, int width, int height, int channels)
    {
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), $"channels must be 1 or 3, not {channels}");
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"image size {width}x{height} must be positive");
        if (src.Length != (long)width * height * channels)
            throw new ArgumentException($"pixel data has {src.Length} bytes, expected {width}x{height}x{channels}", nameof(src));
    }
}
