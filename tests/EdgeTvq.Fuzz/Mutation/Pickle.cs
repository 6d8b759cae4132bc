using System.Text;

namespace EdgeTvq.Fuzz.Mutation;

/// <summary>Pickle-aware additions to byte mutation: opcodes, globals and integer arguments that the unpickler must refuse or bound.</summary>
public static class Pickle
{
    /// <summary>ASCII text and byte values, concatenated.</summary>
    private static byte[] B(params object[] parts) =>
        parts.SelectMany(p => p is string t ? Encoding.Latin1.GetBytes(t) : [(byte)(int)p]).ToArray();

    private static readonly byte[][] Snippets =
    [
        B("("), B(")"), B("t"), B("R"), B("b"), B("s"), B("u"), B("a"), B("e"), B("."), B("0"), B("1"), B("2"), B("N"),
        B(0x88), B(0x89), B("]"), B("}"), B("Q"), B("h", 0), B("q", 5), B("j", 0xff, 0xff, 0xff, 0x7f), B("r", 0xff, 0xff, 0xff, 0xff),
        B("J", 0xff, 0xff, 0xff, 0x7f), B("J", 0, 0, 0, 0x80), B("K", 0xff), B("M", 0xff, 0xff),
        B(0x8a, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), B(0x8a, 0xff), B(0x8b, 0xff, 0xff, 0xff, 0x7f),
        B("X", 0xff, 0xff, 0xff, 0x7f), B("B", 0xff, 0xff, 0xff, 0x7f), B("C", 0xff), B("T", 0, 0, 0, 0x80), B("U", 5, "abc"),
        B(0x8c, 3, "abc"), B(0x93), B(0x94), B(0x95, 8, 0, 0, 0, 0, 0, 0, 0), B(0x80, 5), B(0x80, 0xff),
        B("cos\nsystem\n"), B("cbuiltins\neval\n"), B("ctorch\nFloatStorage\n"), B("ctorch\nLongStorage\n"),
        B("ctorch._utils\n_rebuild_tensor_v2\n"), B("ccollections\nOrderedDict\n"), B("c_codecs\nencode\n"), B("ctorch\nSize\n"),
        B("I99999999999999999999\n"), B("L-1L\n"), B("F1e999\n"), B("G", 0x7f, 0xf8, 0, 0, 0, 0, 0, 0), B("S'x'\n"), B("Vabc\n"),
        B("g0\n"), B("p1\n"), B(0x81), B(0x82, 1),
    ];

    public static byte[] Mutate(byte[] input, Random rng)
    {
        if (rng.Next(3) == 0) return Bytes.Mutate(input, rng);
        var b = new List<byte>(input);
        switch (rng.Next(4))
        {
            case 0: // insert an opcode snippet
                b.InsertRange(rng.Next(b.Count + 1), Snippets[rng.Next(Snippets.Length)]);
                break;
            case 1: // replace a 'K'/'M'/'J' argument (tensor sizes, strides, offsets, numel)
                {
                    var at = Enumerable.Range(0, Math.Max(0, b.Count - 1)).Where(i => b[i] is (byte)'K' or (byte)'M' or (byte)'J').ToList();
                    if (at.Count == 0) goto case 0;
                    int i = at[rng.Next(at.Count)];
                    long v = Bytes.InterestingValue(rng);
                    b.RemoveAt(i);
                    b.RemoveRange(i, Math.Min(1, b.Count - i));
                    b.InsertRange(i, v is >= 0 and < 256 ? [(byte)'K', (byte)v] : [(byte)'J', .. BitConverter.GetBytes((int)v)]);
                    break;
                }
            case 2: // rename a storage key or a tensor
                {
                    string text = Encoding.Latin1.GetString(b.ToArray());
                    int x = text.IndexOf('X', rng.Next(Math.Max(1, text.Length)));
                    if (x < 0 || x + 5 > b.Count) goto case 0;
                    string[] names = ["", "0", "1", "99", "../0", "fc.weight", "a\0b"];
                    byte[] name = Encoding.UTF8.GetBytes(names[rng.Next(names.Length)]);
                    int len = BitConverter.ToInt32(b.ToArray(), x + 1);
                    if (len < 0 || x + 5 + len > b.Count) goto case 0;
                    b.RemoveRange(x + 1, 4 + len);
                    b.InsertRange(x + 1, [.. BitConverter.GetBytes(name.Length), .. name]);
                    break;
                }
            default: // remove one opcode byte
                if (b.Count == 0) goto case 0;
                b.RemoveAt(rng.Next(b.Count));
                break;
        }
        return b.ToArray();
    }
}
