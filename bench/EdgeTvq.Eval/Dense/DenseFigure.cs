using EdgeTvq.Runtime.Output;

namespace EdgeTvq.Eval.Dense;

/// <summary>An RGB image (interleaved, row-major) to place in a grid.</summary>
public sealed record Tile(byte[] Rgb, int Width, int Height)
{
    /// <summary>A class map coloured with the runtime's segmentation palette (−1, ignore, is black).</summary>
    public static Tile Segmentation(ReadOnlySpan<int> classes, int width, int height)
    {
        var rgb = new byte[classes.Length * 3];
        ColorMaps.ColorizeClasses(classes, rgb);
        return new(rgb, width, height);
    }

    /// <summary>
    /// A depth map through the runtime's depth colour map with a given range (the ground truth's, so prediction and
    /// truth of one room share their colours); values ≤ 0 or not finite are black.
    /// </summary>
    public static Tile Depth(ReadOnlySpan<float> depth, int width, int height, float min, float max)
    {
        var rgb = new byte[depth.Length * 3];
        double range = max > min ? (double)max - min : 1;
        for (int i = 0; i < depth.Length; i++)
        {
            if (!(depth[i] > 0) || !float.IsFinite(depth[i])) continue;
            var (r, g, b) = ColorMaps.DepthColor((depth[i] - (double)min) / range);
            (rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]) = (r, g, b);
        }
        return new(rgb, width, height);
    }

    /// <summary>Unit normals [3, H, W] as the runtime writes them ((n + 1) / 2 · 255); a zero vector (invalid) is mid-gray.</summary>
    public static Tile Normals(ReadOnlySpan<float> normals, int width, int height)
    {
        var rgb = new byte[width * height * 3];
        ColorMaps.NormalsToRgb(normals, height, width, rgb);
        return new(rgb, width, height);
    }
}

/// <summary>Composes tiles into one PNG: rows of equal-size tiles on a white background, <see cref="Gap"/> pixels apart.</summary>
public static class DenseFigure
{
    public const int Gap = 4;

    /// <summary>The grid's RGB pixels and size; every tile must have the first tile's size.</summary>
    public static (byte[] Rgb, int Width, int Height) Compose(IReadOnlyList<IReadOnlyList<Tile>> rows)
    {
        if (rows.Count == 0 || rows[0].Count == 0) throw new ArgumentException("a grid needs at least one tile");
        int tw = rows[0][0].Width, th = rows[0][0].Height, columns = rows.Max(r => r.Count);
        int width = columns * tw + (columns + 1) * Gap, height = rows.Count * th + (rows.Count + 1) * Gap;
        var rgb = new byte[width * height * 3];
        Array.Fill(rgb, (byte)255);
        for (int r = 0; r < rows.Count; r++)
            for (int c = 0; c < rows[r].Count; c++)
            {
                var t = rows[r][c];
                if (t.Width != tw || t.Height != th || t.Rgb.Length != tw * th * 3)
                    throw new ArgumentException($"tile ({r}, {c}) is {t.Width}x{t.Height} with {t.Rgb.Length} bytes; the grid's tiles are {tw}x{th} RGB");
                int x0 = Gap + c * (tw + Gap), y0 = Gap + r * (th + Gap);
                for (int y = 0; y < th; y++)
                    t.Rgb.AsSpan(y * tw * 3, tw * 3).CopyTo(rgb.AsSpan(((y0 + y) * width + x0) * 3, tw * 3));
            }
        return (rgb, width, height);
    }

    public static void Write(string path, IReadOnlyList<IReadOnlyList<Tile>> rows)
    {
        var (rgb, w, h) = Compose(rows);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        PngFile.WriteRgb(path, rgb, w, h);
    }
}
