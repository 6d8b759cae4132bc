using System.Buffers.Binary;

namespace EdgeTvq.Runtime.Input;

/// <summary>
/// A structural check of a PNG file before it reaches the decoder: after the signature, every chunk's declared length
/// fits in the file, IHDR comes first and IEND is reached. The decoder (StbImageSharp) sizes its buffers from the
/// declared chunk lengths, so an 85-byte file declaring a 268 MB IDAT made it allocate 512 MB (found by the fuzz
/// suite); such a file is refused with what is wrong instead.
/// </summary>
internal static class PngStructure
{
    private static ReadOnlySpan<byte> Signature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    public static bool IsPng(ReadOnlySpan<byte> b) => b.StartsWith(Signature);

    /// <summary>Null when the chunk structure is sound, else what is wrong.</summary>
    public static string? Problem(ReadOnlySpan<byte> b)
    {
        int at = Signature.Length;
        bool first = true;
        while (true)
        {
            if (at + 12 > b.Length) return $"it ends at byte {b.Length} inside a chunk header, before the IEND chunk";
            uint length = BinaryPrimitives.ReadUInt32BigEndian(b[at..]);
            string type = System.Text.Encoding.ASCII.GetString(b.Slice(at + 4, 4));
            if (length > int.MaxValue || at + 12L + length > b.Length)
                return $"chunk '{type}' at byte {at} declares {length} bytes, beyond the end of the file ({b.Length} bytes)";
            if (first && type != "IHDR") return $"its first chunk is '{type}', not IHDR";
            first = false;
            if (type == "IEND") return null;
            at += 12 + (int)length;
        }
    }
}
