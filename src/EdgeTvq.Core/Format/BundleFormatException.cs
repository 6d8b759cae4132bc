namespace EdgeTvq.Format;

/// <summary>
/// A bundle file or manifest that is corrupt, truncated, inconsistent or made for something else.
/// The message names the file, the record and tensor when known, the byte offset, what was expected and
/// what to do about it.
/// </summary>
public sealed class BundleFormatException(string filePath, string message, string? tensorName = null, long? offset = null, Exception? inner = null)
    : EdgeTvqInputException(Compose(filePath, message, tensorName, offset), filePath, tensorName, offset, inner)
{

    private static string Compose(string file, string message, string? tensor, long? offset)
    {
        var where = Path.GetFileName(file);
        if (tensor is not null) where += $", tensor '{tensor}'";
        if (offset is not null) where += $" at byte {offset}";
        return $"{where}: {message}";
    }
}
