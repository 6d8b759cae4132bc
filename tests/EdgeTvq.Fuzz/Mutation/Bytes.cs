using System.Buffers.Binary;

namespace EdgeTvq.Fuzz.Mutation;

/// <summary>Format-agnostic byte mutators and the "interesting" integers they plant.</summary>
public static class Bytes
{
    /// <summary>0, ±1, type boundaries, 2^31 − 1, 2^32, 2^63 − 1 and huge lengths.</summary>
    public static readonly long[] Interesting =
    [
        0, 1, -1, 2, 7, 8, 16, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 1 << 20, int.MaxValue, 1L << 31,
        uint.MaxValue, 1L << 32, (1L << 32) + 1, 1L << 40, 1L << 53, long.MaxValue, long.MinValue, int.MinValue, -2, -0x80,
    ];

    public static long InterestingValue(Random rng) => Interesting[rng.Next(Interesting.Length)];

    /// <summary>One random byte-level mutation.</summary>
    public static byte[] Mutate(byte[] input, Random rng)
    {
        var b = new List<byte>(input);
        switch (rng.Next(10))
        {
            case 0: // flip some bytes
                if (b.Count == 0) goto case 5;
                for (int n = 1 + rng.Next(4), i = 0; i < n; i++) b[rng.Next(b.Count)] = (byte)rng.Next(256);
                break;
            case 1: // flip one bit
                if (b.Count == 0) goto case 5;
                { int at = rng.Next(b.Count); b[at] ^= (byte)(1 << rng.Next(8)); }
                break;
            case 2: // truncate
                if (b.Count == 0) goto case 5;
                { int to = rng.Next(b.Count); b.RemoveRange(to, b.Count - to); }
                break;
            case 3: // delete a chunk
                if (b.Count == 0) goto case 5;
                { int at = rng.Next(b.Count), len = Math.Min(b.Count - at, 1 + rng.Next(Math.Min(64, b.Count))); b.RemoveRange(at, len); }
                break;
            case 4: // insert a chunk copied from elsewhere (or random)
                {
                    int at = rng.Next(b.Count + 1);
                    byte[] chunk = b.Count > 0 && rng.Next(2) == 0
                        ? b.Skip(rng.Next(b.Count)).Take(1 + rng.Next(64)).ToArray()
                        : RandomBytes(rng, 1 + rng.Next(32));
                    b.InsertRange(at, chunk);
                    break;
                }
            case 5: // extend
                b.AddRange(rng.Next(2) == 0 ? RandomBytes(rng, 1 + rng.Next(64)) : new byte[1 + rng.Next(4096)]);
                break;
            default: // an interesting integer at a random offset
                {
                    if (b.Count == 0) goto case 5;
                    var arr = b.ToArray();
                    PutInteresting(arr, rng.Next(arr.Length), rng);
                    return arr;
                }
        }
        return b.ToArray();
    }

    public static byte[] RandomBytes(Random rng, int n)
    {
        var r = new byte[n];
        rng.NextBytes(r);
        return r;
    }

    /// <summary>Writes an interesting value as a 1/2/4/8-byte little- or big-endian integer at <paramref name="at"/> (clipped).</summary>
    public static void PutInteresting(byte[] b, int at, Random rng)
    {
        long v = InterestingValue(rng);
        int width = 1 << rng.Next(4);
        Span<byte> tmp = stackalloc byte[8];
        if (rng.Next(4) == 0) BinaryPrimitives.WriteInt64BigEndian(tmp, v << (64 - 8 * width));
        else BinaryPrimitives.WriteInt64LittleEndian(tmp, v);
        for (int i = 0; i < width && at + i < b.Length; i++) b[at + i] = tmp[i];
    }

    /// <summary>Writes an interesting value into a little-endian field of <paramref name="width"/> bytes.</summary>
    public static void PutInterestingField(byte[] b, int at, int width, Random rng)
    {
        long v = InterestingValue(rng);
        Span<byte> tmp = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(tmp, v);
        for (int i = 0; i < width && at + i < b.Length; i++) b[at + i] = tmp[i];
    }
}
