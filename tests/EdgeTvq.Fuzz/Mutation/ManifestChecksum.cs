using System.IO.Hashing;
using System.Text;
using System.Text.Json.Nodes;

namespace EdgeTvq.Fuzz.Mutation;

/// <summary>
/// The manifest's "checksum" (docs/bundle-format.md §3): xxHash64 of the file with the 16 digits replaced by '0',
/// after the last <c>"checksum": "</c>, which must be the last member. Recomputed so mutations reach the validator.
/// </summary>
public static class ManifestChecksum
{
    private static readonly byte[] Key = Encoding.ASCII.GetBytes("\"checksum\": \"");

    /// <summary>Moves "checksum" to the end of a root object (adding it when missing).</summary>
    public static void MakeLast(JsonNode? root)
    {
        if (root is not JsonObject o) return;
        o.Remove("checksum");
        o["checksum"] = "0000000000000000";
    }

    /// <summary>Fills in the checksum when the bytes have the shape the reader looks for; otherwise leaves them.</summary>
    public static byte[] Fix(byte[] bytes)
    {
        int key = bytes.AsSpan().LastIndexOf(Key);
        if (key < 0) return bytes;
        int at = key + Key.Length;
        if (at + 16 >= bytes.Length || bytes[at + 16] != (byte)'"') return bytes;
        var copy = (byte[])bytes.Clone();
        Encoding.ASCII.GetBytes("0000000000000000", copy.AsSpan(at, 16));
        Encoding.ASCII.GetBytes(XxHash64.HashToUInt64(copy).ToString("x16"), copy.AsSpan(at, 16));
        return copy;
    }
}
