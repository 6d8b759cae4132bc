namespace EdgeTvq.Checkpoints;

/// <summary>
/// A checkpoint file is malformed, truncated, unsupported or unsafe. The message always names the file,
/// the tensor when one is involved, what was expected versus found, and what to do about it.
/// </summary>
public sealed class CheckpointFormatException : Exception
{
    public CheckpointFormatException(string filePath, string? tensorName, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        FilePath = filePath;
        TensorName = tensorName;
    }

    /// <summary>The checkpoint file that could not be read.</summary>
    public string FilePath { get; }

    /// <summary>The tensor being read when the problem was found, if any.</summary>
    public string? TensorName { get; }

    /// <summary>Builds "file: tensor 'name': detail" (tensor part only when known).</summary>
    internal static CheckpointFormatException Create(string filePath, string? tensorName, string detail, Exception? inner = null)
    {
        string where = tensorName is null ? filePath : $"{filePath}: tensor '{tensorName}'";
        return new CheckpointFormatException(filePath, tensorName, $"{where}: {detail}", inner);
    }
}
