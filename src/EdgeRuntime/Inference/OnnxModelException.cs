using EdgeTvq.Checkpoints.Protobuf;

namespace EdgeTvq.Runtime.Inference;

/// <summary>
/// An ONNX model could not be rewritten or loaded: malformed protobuf, missing external data, weights that do not
/// match the model, or ONNX Runtime refusing the graph. The message names the model file and, when one is
/// involved, the tensor.
/// </summary>
public sealed class OnnxModelException(string modelPath, string? tensorName, string message, Exception? innerException = null, long? offset = null)
    : EdgeTvqInputException(Format(modelPath, tensorName, message), modelPath, tensorName, offset, innerException)
{
    /// <summary>The model file (as given by the caller).</summary>
    public string ModelPath => FilePath;

    /// <summary>The errors of a <see cref="ProtoReader"/> over model bytes, with the byte offset of the problem.</summary>
    internal static readonly ProtoErrorFactory ProtobufErrors =
        static (path, tensor, offset, detail) => new OnnxModelException(path, tensor, detail, null, offset);

    private static string Format(string path, string? tensor, string detail) =>
        tensor is null ? $"{path}: {detail}" : $"{path}: tensor '{tensor}': {detail}";
}
