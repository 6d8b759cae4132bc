using System.Text.Json;
using EdgeTvq.Checkpoints.Onnx;
using EdgeTvq.Checkpoints.Pytorch;
using EdgeTvq.Checkpoints.Safetensors;

namespace EdgeTvq.Checkpoints;

/// <summary>Opens safetensors, PyTorch (torch.save zip) and ONNX checkpoints, recognised by content.</summary>
public static class CheckpointReader
{
    // Magic numbers: zip local file header "PK\x03\x04" (or "PK\x05\x06" for an empty archive);
    // safetensors = u64 header length then '{' at byte 8; a bare pickle (pre-1.6 torch.save) starts with PROTO 0x80.
    private static readonly byte[] ZipMagic = "PK\x03\x04"u8.ToArray();
    private static readonly byte[] EmptyZipMagic = "PK\x05\x06"u8.ToArray();
    private const byte PickleProto = 0x80;
    private const int SniffBytes = 9;

    private static readonly string[] TorchExtensions = [".pt", ".pth", ".ckpt", ".bin", ".tar"];

    /// <summary>
    /// Checks that <paramref name="path"/> is an ONNX model carrying all its weights (no external data), as a task's
    /// head graph must be. Throws <see cref="CheckpointFormatException"/> naming the problem, <see cref="FileNotFoundException"/> if absent.
    /// </summary>
    public static void CheckSelfContainedOnnx(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var kind = EdgeTvq.IO.LocalFile.KindOf(path);
        if (kind == EdgeTvq.IO.LocalFileKind.Missing)
            throw new FileNotFoundException($"ONNX file '{path}' does not exist.", path);
        if (kind != EdgeTvq.IO.LocalFileKind.Regular)
            throw CheckpointFormatException.Create(path, null, $"is {EdgeTvq.IO.LocalFile.Describe(kind)}, not a regular file; pass the ONNX file itself.");
        OnnxInitializerReader.CheckSelfContained(path);
    }

    /// <summary>
    /// Opens <paramref name="path"/>. Content decides the format (zip → pytorch, length-prefixed JSON → safetensors,
    /// otherwise ONNX protobuf); the extension breaks ties for damaged files.
    /// Throws <see cref="CheckpointFormatException"/> for anything malformed, <see cref="FileNotFoundException"/> if absent.
    /// </summary>
    public static ICheckpoint Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var kind = EdgeTvq.IO.LocalFile.KindOf(path);
        if (kind == EdgeTvq.IO.LocalFileKind.Missing)
            throw new FileNotFoundException($"Checkpoint file '{path}' does not exist.", path);
        if (kind != EdgeTvq.IO.LocalFileKind.Regular)
            throw CheckpointFormatException.Create(path, null,
                $"is {EdgeTvq.IO.LocalFile.Describe(kind)}, not a regular file; refusing to read it. Pass the checkpoint file itself.");

        Span<byte> head = stackalloc byte[SniffBytes];
        int read;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1))
            read = stream.ReadAtLeast(head, SniffBytes, throwOnEndOfStream: false);
        head = head[..read];
        string extension = Path.GetExtension(path).ToLowerInvariant();

        string format;
        if (head.StartsWith(ZipMagic) || head.StartsWith(EmptyZipMagic)) format = "pytorch";
        else if (head.Length == SniffBytes && head[8] == (byte)'{') format = "safetensors";
        else if (extension == ".safetensors") format = "safetensors";
        else if (head.Length > 0 && head[0] == PickleProto)
            throw CheckpointFormatException.Create(path, null,
                "is a legacy (pre-1.6, non-zip) torch.save pickle, which is not supported. " +
                "Re-save it with a current PyTorch: torch.save(torch.load(path), new_path).");
        else if (TorchExtensions.Contains(extension)) format = "pytorch";
        else format = "onnx";

        if (format == "onnx" && extension != ".onnx")
        {
            try
            {
                return OpenAs(path, format);
            }
            catch (CheckpointFormatException e)
            {
                throw CheckpointFormatException.Create(path, null,
                    "is not a recognised checkpoint: it is not a torch.save zip (no 'PK' signature), not safetensors (no JSON header at byte 8), " +
                    $"and reading it as ONNX failed: {e.Message}", e);
            }
        }
        return OpenAs(path, format);
    }

    private static ICheckpoint OpenAs(string path, string format)
    {
        try
        {
            return format switch
            {
                "pytorch" => TorchZipCheckpoint.Open(path),
                "safetensors" => SafetensorsReader.Open(path),
                _ => OnnxInitializerReader.Open(path),
            };
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or JsonException or OverflowException
                                      or FormatException or ArgumentException or IndexOutOfRangeException or InvalidCastException
                                      or System.Text.DecoderFallbackException)
        {
            // Safety net: every malformed input should already raise a specific CheckpointFormatException.
            throw CheckpointFormatException.Create(path, null,
                $"could not be read as {format} ({e.GetType().Name}: {e.Message}). The file is corrupt or truncated; re-export it.", e);
        }
    }
}
