namespace EdgeTvq.Runtime.Input;

/// <summary>
/// A structural check of a JPEG file before it reaches the decoder: the marker segments from SOI up to the first
/// SOS lie inside the file, a frame header (SOF) comes before the scan, and an EOI marker follows the scan's data.
/// The decoder (StbImageSharp) loops forever on some truncated files (seen on a 17-byte one, by the fuzz suite), so
/// a file that fails this check is refused with what is wrong instead.
/// </summary>
internal static class JpegStructure
{
    /// <summary>Null when the structure is sound, else what is wrong.</summary>
    public static string? Problem(ReadOnlySpan<byte> b)
    {
        if (b.Length < 4 || b[0] != 0xFF || b[1] != 0xD8) return "it does not start with the SOI marker FF D8";
        bool frame = false;
        int at = 2;
        while (true)
        {
            if (at >= b.Length) return "it ends before its first scan (SOS)";
            if (b[at] != 0xFF) return $"byte {at} is 0x{b[at]:X2} where a marker (FF ..) must start";
            while (at < b.Length && b[at] == 0xFF) at++; // fill bytes
            if (at >= b.Length) return "it ends inside a marker";
            byte marker = b[at++];
            if (marker == 0xD9) return "it ends (EOI) before any scan";
            if (marker is 0x01 or (>= 0xD0 and <= 0xD7)) continue; // markers without a length
            if (at + 2 > b.Length) return $"it ends inside the length of marker FF {marker:X2}";
            int length = (b[at] << 8) | b[at + 1];
            if (length < 2 || at + length > b.Length)
                return $"marker FF {marker:X2} at byte {at - 2} declares {length} bytes, beyond the end of the file ({b.Length} bytes)";
            if (marker is (>= 0xC0 and <= 0xCF) and not (0xC4 or 0xC8 or 0xCC)) frame = true;
            if (marker == 0xDA)
            {
                if (!frame) return "its scan (SOS) comes before any frame header (SOF)";
                if (b[(at + length)..].IndexOf((ReadOnlySpan<byte>)[0xFF, 0xD9]) < 0) return "its scan data is not followed by the EOI marker FF D9 (the file is truncated)";
                return null;
            }
            at += length;
        }
    }
}
