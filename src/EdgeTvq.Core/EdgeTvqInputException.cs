namespace EdgeTvq;

/// <summary>
/// The one base of the errors that mean "this input is bad" (a damaged or foreign bundle, an unreadable or unsafe
/// checkpoint, an ONNX model that does not fit): the file, the tensor when one is involved and the byte offset when
/// known. <see cref="ExitCodes"/> maps it, like every expected failure, to one exit code for both command lines and
/// to an error answer for the service loop.
/// </summary>
public abstract class EdgeTvqInputException(string message, string filePath, string? tensorName, long? offset, Exception? inner)
    : Exception(message, inner)
{
    /// <summary>The file at fault, as the caller named it.</summary>
    public string FilePath { get; } = filePath;

    /// <summary>The tensor involved, if any.</summary>
    public string? TensorName { get; } = tensorName;

    /// <summary>The byte offset in <see cref="FilePath"/>, when known.</summary>
    public long? Offset { get; } = offset;
}

/// <summary>
/// Exit codes of edgetvq and edgetvq-pack, and which failures are expected (answered with one line, the process or
/// the service loop going on) rather than bugs (which keep their stack trace).
/// </summary>
public static class ExitCodes
{
    public const int Ok = 0, Failed = 1, BadUsage = 2;

    /// <summary>
    /// The exit code of an expected failure: 1 for bad or damaged input and for a step that could not finish (an SVD
    /// that did not converge), 2 for bad usage (an option or recipe value out of range); null for anything else.
    /// </summary>
    public static int? For(Exception e) => e switch
    {
        EdgeTvqInputException or InvalidDataException or IOException or UnauthorizedAccessException => Failed,
        ArgumentException => BadUsage,
        InvalidOperationException or KeyNotFoundException or FormatException => Failed,
        _ => null,
    };
}
