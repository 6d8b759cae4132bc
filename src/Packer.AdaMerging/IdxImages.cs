using System.Buffers.Binary;

namespace EdgeTvq.AdaMerging;

/// <summary>
/// Unsigned-byte idx image files (the MNIST format; the zoo's <c>*.test.images.idx</c>): big-endian magic 0x00000803,
/// then N, rows, cols as big-endian int32, then N·rows·cols bytes.
/// </summary>
public static class IdxImages
{
    private const int Magic = 0x00000803;

    /// <summary>Reads up to <paramref name="limit"/> images as (pixel/255 − mean)/std, shape [N, 1, rows, cols].</summary>
    public static (float[] Data, long[] Shape) Load(string path, float mean, float std, int limit = int.MaxValue)
    {
        var bytes = EdgeTvq.IO.LocalFile.ReadAllBytes(path, int.MaxValue, "idx image file");
        if (bytes.Length < 16 || BinaryPrimitives.ReadInt32BigEndian(bytes) != Magic)
            throw new InvalidDataException($"{path}: not an idx3 unsigned-byte image file (magic 0x00000803)");
        int n = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4)), rows = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(8)),
            cols = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(12));
        if (n < 0 || rows <= 0 || cols <= 0 || (Int128)n * rows * cols + 16 != bytes.Length)
            throw new InvalidDataException($"{path}: header says {n} images of {rows}×{cols}, the file has {bytes.Length - 16} pixel bytes");
        if (n == 0) throw new InvalidDataException($"{path}: no images");
        n = Math.Min(n, limit);
        var data = new float[(long)n * rows * cols];
        for (long i = 0; i < data.LongLength; i++) data[i] = (bytes[16 + i] / 255f - mean) / std;
        return (data, [n, 1, rows, cols]);
    }
}
