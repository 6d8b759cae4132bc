namespace EdgeTvq.Runtime.Output;

/// <summary>
/// Colours for dense predictions: a segmentation palette, a depth colour map and the usual normals-to-RGB mapping.
/// docs/image-ops.md describes each.
/// </summary>
public static class ColorMaps
{
    /// <summary>
    /// The colour of a segmentation class. Class <c>k ≥ 0</c> gets entry <c>k + 1</c> of the bit-interleaved palette
    /// used by PASCAL VOC: the index's bits are dealt in turn to red, green and blue (bit 0 → red, 1 → green,
    /// 2 → blue, 3 → red, ...), each channel filling from its most significant bit downwards. That map is a bijection
    /// of 0..2^24−1 onto the RGB cube and entry 0 is black, so classes 0..16,777,214 all get distinct non-black colours
    /// (larger indices wrap) and black is left for class &lt; 0, the ignore label. Neighbouring classes differ in
    /// their high bits, so they contrast.
    /// </summary>
    public static (byte R, byte G, byte B) SegmentationPalette(int classIndex)
    {
        if (classIndex < 0) return (0, 0, 0);
        int c = (int)(((long)classIndex % 0xFFFFFF) + 1);
        int r = 0, g = 0, b = 0;
        for (int bit = 7; bit >= 0 && c != 0; bit--)
        {
            r |= (c & 1) << bit;
            g |= ((c >> 1) & 1) << bit;
            b |= ((c >> 2) & 1) << bit;
            c >>= 3;
        }
        return ((byte)r, (byte)g, (byte)b);
    }

    /// <summary>Colours a class map (one class index per pixel) into interleaved RGB with <see cref="SegmentationPalette"/>.</summary>
    public static void ColorizeClasses(ReadOnlySpan<int> classes, Span<byte> rgb)
    {
        if (rgb.Length != classes.Length * 3) throw new ArgumentException($"RGB buffer has {rgb.Length} bytes, expected {classes.Length * 3}", nameof(rgb));
        for (int i = 0; i < classes.Length; i++)
        {
            var (r, g, b) = SegmentationPalette(classes[i]);
            rgb[3 * i] = r;
            rgb[3 * i + 1] = g;
            rgb[3 * i + 2] = b;
        }
    }

    /// <summary>
    /// Anchors of the depth colour map, position t in [0, 1] and colour: from pale cream (near) through amber, coral
    /// and violet to deep navy (far). Lightness falls monotonically along the ramp, so the order of depths reads
    /// the same in colour and in a gray print, and the hue turns from warm to cool.
    /// </summary>
    static ReadOnlySpan<byte> DepthAnchors =>
    [
        255, 244, 214, // t = 0.00
        250, 178, 72,  // t = 0.25
        214, 84, 92,   // t = 0.50
        110, 46, 140,  // t = 0.75
        24, 22, 64,    // t = 1.00
    ];

    /// <summary>
    /// The depth map colour at <paramref name="t"/> (clamped to [0, 1]): linear interpolation in 8-bit sRGB between
    /// the two surrounding anchors, rounded half away from zero.
    /// </summary>
    public static (byte R, byte G, byte B) DepthColor(double t)
    {
        if (!(t > 0)) t = 0; // also NaN
        if (t > 1) t = 1;
        ReadOnlySpan<byte> a = DepthAnchors;
        int segments = a.Length / 3 - 1;
        double x = t * segments;
        int i = Math.Min((int)x, segments - 1);
        double f = x - i;
        return (Lerp(a[3 * i], a[3 * i + 3], f), Lerp(a[3 * i + 1], a[3 * i + 4], f), Lerp(a[3 * i + 2], a[3 * i + 5], f));

        static byte Lerp(byte from, byte to, double f) => (byte)Math.Round(from + (to - from) * f, MidpointRounding.AwayFromZero);
    }

    /// <summary>
    /// Colours a depth map into interleaved RGB: valid pixels (finite and &gt; 0) are mapped by
    /// <c>t = (d − min) / (max − min)</c> over the valid pixels' range through <see cref="DepthColor"/> (near = light,
    /// far = dark; all valid pixels get t = 0 when max = min); invalid pixels are black. Returns the range used,
    /// (NaN, NaN) when no pixel is valid.
    /// </summary>
    public static (float Min, float Max) DepthToRgb(ReadOnlySpan<float> depth, Span<byte> rgb)
    {
        if (rgb.Length != depth.Length * 3) throw new ArgumentException($"RGB buffer has {rgb.Length} bytes, expected {depth.Length * 3}", nameof(rgb));
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        foreach (float d in depth)
        {
            if (!IsValidDepth(d)) continue;
            if (d < min) min = d;
            if (d > max) max = d;
        }
        if (min > max)
        {
            rgb.Clear();
            return (float.NaN, float.NaN);
        }
        double range = (double)max - min;
        for (int i = 0; i < depth.Length; i++)
        {
            float d = depth[i];
            var (r, g, b) = IsValidDepth(d) ? DepthColor(range > 0 ? (d - (double)min) / range : 0) : ((byte)0, (byte)0, (byte)0);
            rgb[3 * i] = r;
            rgb[3 * i + 1] = g;
            rgb[3 * i + 2] = b;
        }
        return (min, max);
    }

    static bool IsValidDepth(float d) => float.IsFinite(d) && d > 0;

    /// <summary>
    /// Surface normals in channel-first layout (3 × h × w, components x, y, z in [−1, 1]) to interleaved RGB:
    /// <c>round((n + 1) / 2 · 255)</c> per component, computed in double, rounded half away from zero and clamped to
    /// 0..255; a non-finite component gives 0.
    /// </summary>
    public static void NormalsToRgb(ReadOnlySpan<float> normals, int h, int w, Span<byte> rgb)
    {
        int plane = h * w;
        if (normals.Length != 3 * plane) throw new ArgumentException($"normals have {normals.Length} values, expected 3x{h}x{w}", nameof(normals));
        if (rgb.Length != 3 * plane) throw new ArgumentException($"RGB buffer has {rgb.Length} bytes, expected {3 * plane}", nameof(rgb));
        for (int c = 0; c < 3; c++)
        {
            ReadOnlySpan<float> channel = normals.Slice(c * plane, plane);
            for (int i = 0; i < plane; i++) rgb[3 * i + c] = NormalComponent(channel[i]);
        }
    }

    /// <summary>One normal component to a byte, as <see cref="NormalsToRgb"/>.</summary>
    public static byte NormalComponent(float n)
    {
        if (!float.IsFinite(n)) return 0;
        double v = Math.Round((n + 1.0) / 2.0 * 255.0, MidpointRounding.AwayFromZero);
        return v <= 0 ? (byte)0 : v >= 255 ? (byte)255 : (byte)v;
    }
}
