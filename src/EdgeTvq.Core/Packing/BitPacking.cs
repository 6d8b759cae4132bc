namespace EdgeTvq.Packing;

/// <summary>
/// Dense little-endian bit packing, the scalar reference. Code i (b bits, 1 ≤ b ≤ 8) occupies stream bits
/// [i·b, i·b + b), where stream bit k is bit (k mod 8) of byte ⌊k/8⌋ (bit 0 = least significant).
/// So 8 codes always fill exactly b bytes; e.g. at 3 bits, codes c0..c7 fill 3 bytes as
/// <code>
///   byte 0 = c0 | c1&lt;&lt;3 | (c2 &amp; 0b11)&lt;&lt;6
///   byte 1 = c2&gt;&gt;2 | c3&lt;&lt;1 | c4&lt;&lt;4 | (c5 &amp; 0b1)&lt;&lt;7
///   byte 2 = c5&gt;&gt;1 | c6&lt;&lt;2 | c7&lt;&lt;5
/// </code>
/// Unused bits of the last byte are zero (readers may check this).
/// </summary>
public static class BitPacking
{
    /// <summary>Bytes needed for <paramref name="count"/> codes of <paramref name="bits"/> bits: ⌈count·b/8⌉.</summary>
    public static long PackedLength(long count, int bits)
    {
        CheckBits(bits);
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count));
        return checked(count * bits + 7) / 8;
    }

    public static void Pack(ReadOnlySpan<byte> codes, int bits, Span<byte> packed)
    {
        CheckBits(bits);
        long need = PackedLength(codes.Length, bits);
        if (packed.Length != need) throw new ArgumentException($"packed buffer must be {need} bytes, got {packed.Length}", nameof(packed));
        int mask = (1 << bits) - 1;
        ulong acc = 0;
        int accBits = 0, o = 0;
        for (int i = 0; i < codes.Length; i++)
        {
            int c = codes[i];
            if (c > mask) throw new ArgumentException($"code {c} at index {i} does not fit in {bits} bits", nameof(codes));
            acc |= (ulong)c << accBits;
            accBits += bits;
            while (accBits >= 8)
            {
                packed[o++] = (byte)acc;
                acc >>= 8;
                accBits -= 8;
            }
        }
        if (accBits > 0) packed[o] = (byte)acc;
    }

    /// <summary>Reference unpacking, one code per output byte.</summary>
    public static void Unpack(ReadOnlySpan<byte> packed, int bits, Span<byte> codes)
    {
        CheckBits(bits);
        long need = PackedLength(codes.Length, bits);
        if (packed.Length < need) throw new ArgumentException($"packed buffer holds {packed.Length} bytes, {need} needed", nameof(packed));
        for (int i = 0; i < codes.Length; i++) codes[i] = (byte)CodeAt(packed, bits, i);
    }

    /// <summary>The code at index <paramref name="i"/>; a code spans at most two bytes because b ≤ 8.</summary>
    public static int CodeAt(ReadOnlySpan<byte> packed, int bits, long i)
    {
        long bit = i * bits;
        int byteIndex = (int)(bit >> 3), shift = (int)(bit & 7);
        int word = packed[byteIndex];
        if (shift + bits > 8) word |= packed[byteIndex + 1] << 8;
        return (word >> shift) & ((1 << bits) - 1);
    }

    /// <summary>True when the padding bits after the last code are all zero, as writers must leave them.</summary>
    public static bool PaddingIsZero(ReadOnlySpan<byte> packed, int bits, long count)
    {
        int used = (int)(count * bits % 8);
        return used == 0 || packed.Length == 0 || (packed[^1] >> used) == 0;
    }

    internal static void CheckBits(int bits)
    {
        if (bits is < 1 or > 8) throw new ArgumentOutOfRangeException(nameof(bits), bits, "bit width must be between 1 and 8");
    }
}
