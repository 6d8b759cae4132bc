using System.Globalization;
using EdgeTvq.Checkpoints.Protobuf;
using Microsoft.Win32.SafeHandles;

namespace EdgeTvq.Runtime.Inference;

/// <summary>
/// The bytes of an initializer stored outside the model (TensorProto.data_location = EXTERNAL): file
/// <c>location</c> relative to the model's folder, from <c>offset</c> (default 0), <c>length</c> bytes (default:
/// element count × element size). The rewriter inlines these as raw_data so the rewritten bytes are self-contained.
/// </summary>
internal sealed class ExternalTensorData
{
    private ExternalTensorData(string filePath, long offset, long length)
    {
        FilePath = filePath;
        Offset = offset;
        Length = length;
    }

    public string FilePath { get; }
    public long Offset { get; }
    public long Length { get; }

    /// <summary>
    /// Validates the external_data entries of <paramref name="init"/>. The data file must be a regular file whose real
    /// path (symbolic links resolved) lies inside the model's folder (<see cref="EdgeTvq.IO.LocalFile.ResolveInside"/>).
    /// </summary>
    public static ExternalTensorData Resolve(string modelPath, InitializerField init)
    {
        string name = init.Info.Name;
        if (!init.ExternalData.TryGetValue("location", out string? location) || location.Length == 0)
            throw new OnnxModelException(modelPath, name, "is marked as external data but has no 'location' entry. Re-export the model.");
        string modelDir = Path.GetDirectoryName(Path.GetFullPath(modelPath))!;
        string dataPath = EdgeTvq.IO.LocalFile.ResolveInside(modelDir, location, out string problem)
            ?? throw new OnnxModelException(modelPath, name,
                $"external data location '{location}' {problem}; refusing to read it. Keep the data file, as a regular file, in the model's folder '{modelDir}' (onnx.save_model writes it there).");

        long offset = Number(modelPath, init, "offset") ?? 0;
        int elementSize = OnnxFields.ElementSize(init.Info.DataType);
        long? expected = elementSize == 0 ? null : checked(init.Info.ElementCount * elementSize);
        long length = Number(modelPath, init, "length") ?? expected ?? throw new OnnxModelException(modelPath, name,
            $"external data has no 'length' and data_type {init.Info.DataType} has no fixed element size.");
        if (expected is { } e && e != length)
            throw new OnnxModelException(modelPath, name,
                $"external data length is {length} bytes but data_type {init.Info.DataType} dims [{string.Join(", ", init.Info.Dims)}] need {e}.");
        long fileLength = new FileInfo(dataPath).Length;
        if (offset > fileLength || length > fileLength - offset)
            throw new OnnxModelException(modelPath, name,
                $"external data [{offset}, {offset + length}) lies beyond the end of '{location}' ({fileLength} bytes). The data file is truncated or belongs to another export.");
        return new ExternalTensorData(dataPath, offset, length);
    }

    /// <summary>Reads the whole range into <paramref name="destination"/> (exactly <see cref="Length"/> bytes).</summary>
    public void ReadInto(Span<byte> destination, SafeFileHandle file)
    {
        long position = Offset;
        while (!destination.IsEmpty)
        {
            int read = RandomAccess.Read(file, destination, position);
            if (read <= 0) throw new EndOfStreamException($"{FilePath} ended at byte {position} while reading external tensor data.");
            destination = destination[read..];
            position += read;
        }
    }

    private static long? Number(string modelPath, InitializerField init, string key)
    {
        if (!init.ExternalData.TryGetValue(key, out string? text)) return null;
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long v))
            throw new OnnxModelException(modelPath, init.Info.Name, $"external data {key} '{text}' is not a non-negative integer.");
        return v;
    }
}
