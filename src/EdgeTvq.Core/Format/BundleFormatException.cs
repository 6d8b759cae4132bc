namespace EdgeTvq.Format;

/// <summary>
/// A bundle file or manifest that is corrupt, truncated, inconsistent or made for something else.
/// The message names the file, the record and tensor when known, the byte offset, what was expected and
/// what to do about it.
/// </summary>
public sealed class BundleFormatException : Exception
{
    public string FilePath { get; }
    public string? TensorName { get; }
    public long? Offset { get; }

    public BundleFormatException(string filePath, string message, string? tensorName = null, long? offset = null, Exception? inner = null)
        : base(Compose(filePath, message, tensorName, offset), inner)
    {
        FilePath = filePath;
        TensorName = tensorName;
        Offset = offset;
    }

    private static string Compose(string file, string message, string? tensor, long? offset)
    {
        var where = Path.GetFileName(file);
        if (tensor is not null) where += $", tensor '{tensor}'";
        if (offset is not null) where += $" at byte {offset}";
        return $"{where}: {message}";
    }
}
