using System.Buffers.Binary;
using EdgeTvq.IO;
using StbImageSharp;

namespace EdgeTvq.Runtime.Input;

/// <summary>
/// One decoded input image as it came: <see cref="Width"/>×<see cref="Height"/> pixels of <see cref="Channels"/>
/// interleaved bytes (1: gray, 3: RGB), and its true label when the file carried one. The task's preprocessing
/// (<see cref="Preprocessor"/>) turns it into the model's input.
/// </summary>
public sealed record InputImage(string Source, int Width, int Height, int Channels, byte[] Pixels, int? Label)
{
    /// <summary>A gray image.</summary>
    public static InputImage Gray(string source, int width, int height, byte[] pixels, int? label = null) => new(source, width, height, 1, pixels, label);
}

/// <summary>
/// Reads the inputs <c>edgetvq run</c> accepts: PNG/JPEG (decoded by StbImageSharp to RGB, kept at their size) and
/// idx files (idx3 ubyte gray images, as MNIST ships; a sibling idx1 labels file is used when present).
/// </summary>
public static class ImageFiles
{
    /// <summary>
    /// The largest input file read (1 GiB: MNIST's whole test set as idx is 7.8 MB). Larger files, and anything that is
    /// not a regular file (a directory, a FIFO, a device), are refused with <see cref="InvalidDataException"/> before a
    /// byte is read.
    /// </summary>
    public const long MaxInputBytes = 1L << 30;

    /// <summary>The most pixels a PNG/JPEG input may declare (64 Mpx: a 8192×8192 photo); checked before decoding.</summary>
    public const long MaxPixels = 1L << 26;

    public static List<InputImage> Load(string path, int limit = int.MaxValue)
    {
        var bytes = LocalFile.ReadAllBytes(path, MaxInputBytes, "input file");
        if (bytes.Length >= 4 && bytes[0] == 0 && bytes[1] == 0 && bytes[2] == 0x08)
            return ReadIdx(path, bytes, limit);
        return [Decode(path, bytes)];
    }

    /// <summary>
    /// A PNG or JPEG image in memory, checked and decoded to RGB at its own size; <paramref name="source"/> names it in
    /// errors. Anything else is refused with <see cref="InvalidDataException"/>.
    /// </summary>
    public static InputImage Decode(string source, byte[] bytes)
    {
        if (bytes.Length >= 2 && bytes[0] == 0xFF && bytes[1] == 0xD8 && JpegStructure.Problem(bytes) is { } jpegProblem)
            throw new InvalidDataException($"{source}: not a readable JPEG: {jpegProblem}");
        if (PngStructure.IsPng(bytes) && PngStructure.Problem(bytes) is { } pngProblem)
            throw new InvalidDataException($"{source}: not a readable PNG: {pngProblem}");
        ImageResult image;
        try
        {
            // The header alone first: a file that declares more pixels than any input needs is refused before decoding.
            using (var header = new MemoryStream(bytes, writable: false))
                if (ImageInfo.FromStream(header) is { } info && (long)info.Width * info.Height > MaxPixels)
                    throw new InvalidDataException($"{source}: the image declares {info.Width}×{info.Height} pixels, over the {MaxPixels:N0}-pixel limit for an input");
            image = ImageResult.FromMemory(bytes, ColorComponents.RedGreenBlue);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or IndexOutOfRangeException or IOException
                                      or OverflowException or NotSupportedException)
        {
            throw new InvalidDataException($"{source}: not a PNG, JPEG or idx file ({e.Message})", e);
        }
        if (image.Data is null || image.Data.Length != 3L * image.Width * image.Height)
            throw new InvalidDataException($"{source}: the decoder returned {image.Data?.Length ?? 0} bytes for {image.Width}×{image.Height} RGB pixels");
        return new InputImage(source, image.Width, image.Height, 3, image.Data, null);
    }

    private static List<InputImage> ReadIdx(string path, byte[] b, int limit)
    {
        if (b[3] != 3 || b.Length < 16)
            throw new InvalidDataException($"{path}: idx file must hold ubyte images of rank 3 (magic 00 00 08 03)");
        int n = BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(4)), rows = BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(8)), cols = BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(12));
        // Each factor is at most 2^31 - 1, so the product is computed in 128 bits: a header whose product wraps
        // around 2^64 to the file's size must not pass.
        if (n < 0 || rows <= 0 || cols <= 0 || (Int128)n * rows * cols + 16 != b.Length)
            throw new InvalidDataException($"{path}: idx header says {n} images of {rows}×{cols} but the file has {b.Length} bytes");
        int[]? labels = ReadLabels(path, n);
        var list = new List<InputImage>();
        for (int i = 0; i < Math.Min(n, limit); i++)
        {
            var img = b.AsSpan(16 + i * rows * cols, rows * cols).ToArray();
            list.Add(InputImage.Gray($"{Path.GetFileName(path)}#{i}", cols, rows, img, labels?[i]));
        }
        return list;
    }

    /// <summary>Labels from "X-labels-idx1-ubyte" / "X.labels.idx" style siblings of an images file, if one exists.</summary>
    private static int[]? ReadLabels(string imagesPath, int n)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(imagesPath))!, name = Path.GetFileName(imagesPath);
        string[] candidates = [name.Replace("images", "labels"), name.Replace("idx3", "idx1"), name.Replace("images-idx3", "labels-idx1")];
        foreach (var c in candidates.Where(c => c != name).Distinct())
        {
            string p = Path.Combine(dir, c);
            if (LocalFile.KindOf(p) != LocalFileKind.Regular || new FileInfo(p).Length != 8L + n) continue;
            var b = LocalFile.ReadAllBytes(p, 8L + n, "labels file");
            if (b.Length == 8 + n && b[2] == 0x08 && b[3] == 1 && BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(4)) == n)
                return b.AsSpan(8).ToArray().Select(x => (int)x).ToArray();
        }
        return null;
    }
}
