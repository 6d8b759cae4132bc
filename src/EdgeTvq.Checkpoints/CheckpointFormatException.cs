using EdgeTvq.Checkpoints.Protobuf;

namespace EdgeTvq.Checkpoints;

/// <summary>
/// A checkpoint file is malformed, truncated, unsupported or unsafe. The message always names the file,
/// the tensor when one is involved, what was expected versus found, and what to do about it.
/// </summary>
public sealed class CheckpointFormatException(string filePath, string? tensorName, string message, Exception? innerException = null, long? offset = null)
    : EdgeTvqInputException(message, filePath, tensorName, offset, innerException)
{
    /// <summary>Builds "file: tensor 'name': detail" (tensor part only when known).</summary>
    internal static CheckpointFormatException Create(string filePath, string? tensorName, string detail, Exception? inner = null, long? offset = null)
    {
        string where = tensorName is null ? filePath : $"{filePath}: tensor '{tensorName}'";
        return new CheckpointFormatException(filePath, tensorName, $"{where}: {detail}", inner, offset);
    }

    /// <summary>The errors of a <see cref="ProtoReader"/> over a checkpoint (an ONNX model read for its weights), with the byte offset of the problem.</summary>
    internal static readonly ProtoErrorFactory ProtobufErrors =
        static (path, tensor, offset, detail) => Create(path, tensor, detail, null, offset);
}
