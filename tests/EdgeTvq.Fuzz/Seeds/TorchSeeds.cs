using System.IO.Compression;
using System.Text;

namespace EdgeTvq.Fuzz.Seeds;

/// <summary>torch.save-style zips built in C# (the layout of tests/EdgeTvq.Checkpoints.Tests/TestFiles.cs).</summary>
public static class TorchSeeds
{
    public static byte[] Zip(IEnumerable<(string Name, byte[] Data, CompressionLevel Level)> entries)
    {
        using var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
            foreach (var (name, data, level) in entries)
            {
                using Stream s = zip.CreateEntry(name, level).Open();
                s.Write(data);
            }
        return ms.ToArray();
    }

    /// <summary>The entries of a zip, or null when it does not open (or is too big to be a seed descendant).</summary>
    public static List<(string Name, byte[] Data, CompressionLevel Level)>? TryEntries(byte[] zipBytes)
    {
        try
        {
            using var zip = new ZipArchive(new MemoryStream(zipBytes), ZipArchiveMode.Read);
            var list = new List<(string, byte[], CompressionLevel)>();
            foreach (var e in zip.Entries)
            {
                if (e.Length > 1 << 20) return null;
                using var s = e.Open();
                using var content = new MemoryStream();
                s.CopyTo(content);
                list.Add((e.FullName, content.ToArray(), e.CompressedLength == e.Length ? CompressionLevel.NoCompression : CompressionLevel.Fastest));
            }
            return list;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or NotSupportedException or ArgumentException) { return null; }
    }

    /// <summary>The name of the first zip entry whose bytes do not match its stored CRC-32, or null.</summary>
    public static string? FirstBadCrc(byte[] zipBytes)
    {
        try
        {
            using var zip = new ZipArchive(new MemoryStream(zipBytes), ZipArchiveMode.Read);
            foreach (var e in zip.Entries)
            {
                using var s = e.Open();
                using var content = new MemoryStream();
                s.CopyTo(content);
                if (System.IO.Hashing.Crc32.HashToUInt32(content.GetBuffer().AsSpan(0, (int)content.Length)) != e.Crc32) return e.FullName;
            }
            return null;
        }
        catch (InvalidDataException) { return "(an entry .NET's zip reader refuses)"; }
    }

    private static byte[] P(params object[] parts)
    {
        var ms = new MemoryStream();
        foreach (object part in parts)
            switch (part)
            {
                case byte b: ms.WriteByte(b); break;
                case char c: ms.WriteByte((byte)c); break;
                case byte[] bytes: ms.Write(bytes); break;
                case string s: ms.Write(Encoding.Latin1.GetBytes(s)); break;
                case int i: ms.WriteByte(checked((byte)i)); break;
                default: throw new ArgumentException(part.GetType().Name);
            }
        return ms.ToArray();
    }

    private static byte[] Unicode(string s)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(s);
        return P('X', BitConverter.GetBytes(utf8.Length), utf8);
    }

    /// <summary>_rebuild_tensor_v2(('storage', torch.&lt;Storage&gt;, key, 'cpu', numel), offset, size, stride, False, OrderedDict()).</summary>
    public static byte[] Tensor(string storage, string key, int numel, int offset, int[] size, int[] stride) => P(
        "ctorch._utils\n_rebuild_tensor_v2\n", '(',
        '(', Unicode("storage"), $"ctorch\n{storage}\n", Unicode(key), Unicode("cpu"), 'K', numel, 't', 'Q',
        'K', offset,
        '(', size.SelectMany(s => new byte[] { (byte)'K', (byte)s }).ToArray(), 't',
        '(', stride.SelectMany(s => new byte[] { (byte)'K', (byte)s }).ToArray(), 't',
        (byte)0x89, "ccollections\nOrderedDict\n", ')', 'R',
        't', 'R');

    /// <summary>OrderedDict([(name, tensor), …]) as torch.save writes a state_dict (protocol 2).</summary>
    public static byte[] OrderedDict(params (string Name, byte[] Tensor)[] items) => P(
        (byte)0x80, 2, "ccollections\nOrderedDict\n", ')', 'R', 'q', 0, '(',
        items.SelectMany(i => P(Unicode(i.Name), i.Tensor)).ToArray(), 'u', '.');

    private static byte[] Floats(params float[] v) => v.SelectMany(BitConverter.GetBytes).ToArray();

    public static byte[] StateDict(CompressionLevel level) => Zip([
        ("archive/data.pkl", OrderedDict(
            ("fc.weight", Tensor("FloatStorage", "0", 6, 0, [2, 3], [3, 1])),
            ("fc.bias", Tensor("FloatStorage", "1", 2, 0, [2], [1])),
            ("half", Tensor("HalfStorage", "2", 2, 0, [2], [1])),
            ("steps", Tensor("LongStorage", "3", 1, 0, [], []))), level),
        ("archive/byteorder", "little"u8.ToArray(), level),
        ("archive/data/0", Floats(1, 2, 3, 4, 5, 6), level),
        ("archive/data/1", Floats(0.5f, -0.5f), level),
        ("archive/data/2", [0, 0x3c, 0, 0xc0], level),
        ("archive/data/3", BitConverter.GetBytes(42L), level),
        ("archive/version", "3\n"u8.ToArray(), level),
    ]);

    /// <summary>Two tensors viewing one storage (offset and transposed stride).</summary>
    public static byte[] Shared() => Zip([
        ("model/data.pkl", OrderedDict(
            ("a", Tensor("FloatStorage", "0", 8, 0, [2, 2], [2, 1])),
            ("b", Tensor("FloatStorage", "0", 8, 4, [2, 2], [1, 2]))), CompressionLevel.NoCompression),
        ("model/data/0", Floats(1, 2, 3, 4, 5, 6, 7, 8), CompressionLevel.NoCompression),
        ("model/version", "3\n"u8.ToArray(), CompressionLevel.NoCompression),
    ]);
}
