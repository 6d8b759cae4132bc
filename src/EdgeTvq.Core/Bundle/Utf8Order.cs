using System.Text;

namespace EdgeTvq.Bundle;

/// <summary>
/// The canonical tensor order: names compared as UTF-8 byte strings (what every language's byte comparison gives;
/// it differs from UTF-16 ordinal order only for characters beyond the Basic Multilingual Plane).
/// </summary>
public sealed class Utf8Order : IComparer<string>
{
    public static Utf8Order Instance { get; } = new();

    public int Compare(string? x, string? y)
    {
        if (ReferenceEquals(x, y)) return 0;
        if (x is null) return -1;
        if (y is null) return 1;
        return Encoding.UTF8.GetBytes(x).AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(y));
    }
}
