using System.IO.Compression;
using System.Text;

namespace EdgeTvq.Checkpoints.Tests;

/// <summary>A temporary folder deleted on Dispose.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "edgetvq-ckpt-test-" + Guid.NewGuid().ToString("N"));

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Write(string name, byte[] content)
    {
        string p = File(name);
        System.IO.File.WriteAllBytes(p, content);
        return p;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

internal static class TorchZip
{
    /// <summary>A torch.save-style zip: archive/data.pkl plus archive/data/KEY entries, stored uncompressed.</summary>
    public static byte[] Build(byte[] pickle, params (string Key, byte[] Data)[] storages)
    {
        using var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
        {
            Add(zip, "archive/data.pkl", pickle);
            foreach (var (key, data) in storages) Add(zip, "archive/data/" + key, data);
            Add(zip, "archive/version", "3\n"u8.ToArray());
        }
        return ms.ToArray();
    }

    /// <summary>The bytes of the entry ending in <paramref name="suffix"/> of an existing zip.</summary>
    public static byte[] ReadEntry(string zipPath, string suffix)
    {
        using ZipArchive zip = ZipFile.OpenRead(zipPath);
        ZipArchiveEntry entry = zip.Entries.Single(e => e.FullName.EndsWith(suffix, StringComparison.Ordinal));
        using var s = entry.Open();
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }

    /// <summary>Rewrites a torch zip with a replacement data.pkl, keeping every other entry.</summary>
    public static byte[] ReplacePickle(string zipPath, byte[] pickle)
    {
        using ZipArchive source = ZipFile.OpenRead(zipPath);
        using var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (ZipArchiveEntry e in source.Entries)
            {
                using var s = e.Open();
                using var content = new MemoryStream();
                s.CopyTo(content);
                Add(zip, e.FullName, e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) ? pickle : content.ToArray());
            }
        }
        return ms.ToArray();
    }

    private static void Add(ZipArchive zip, string name, byte[] data)
    {
        ZipArchiveEntry entry = zip.CreateEntry(name, CompressionLevel.NoCompression);
        using Stream s = entry.Open();
        s.Write(data);
    }
}

/// <summary>Hand-assembled pickles (protocol 2 opcodes).</summary>
internal static class Pickles
{
    public static byte[] Bytes(params object[] parts)
    {
        var ms = new MemoryStream();
        foreach (object part in parts)
        {
            switch (part)
            {
                case byte b: ms.WriteByte(b); break;
                case byte[] bytes: ms.Write(bytes); break;
                case string s: ms.Write(Encoding.Latin1.GetBytes(s)); break;
                case int i: ms.WriteByte(checked((byte)i)); break;
                default: throw new ArgumentException(part.GetType().Name);
            }
        }
        return ms.ToArray();
    }

    public static byte[] Unicode(string s)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(s);
        return Bytes((byte)'X', BitConverter.GetBytes(utf8.Length), utf8);
    }

    /// <summary>_rebuild_tensor_v2(('storage', torch.FloatStorage, key, 'cpu', numel), offset, size, stride, False, OrderedDict()).</summary>
    public static byte[] FloatTensor(string key, int numel, int offset, int[] size, int[] stride) => Bytes(
        "ctorch._utils\n_rebuild_tensor_v2\n", (byte)'(',
        (byte)'(', Unicode("storage"), "ctorch\nFloatStorage\n", Unicode(key), Unicode("cpu"), (byte)'K', numel, (byte)'t', (byte)'Q',
        (byte)'K', offset,
        (byte)'(', size.SelectMany(s => new byte[] { (byte)'K', (byte)s }).ToArray(), (byte)'t',
        (byte)'(', stride.SelectMany(s => new byte[] { (byte)'K', (byte)s }).ToArray(), (byte)'t',
        (byte)0x89, "ccollections\nOrderedDict\n", (byte)')', (byte)'R',
        (byte)'t', (byte)'R');

    /// <summary>{'w': tensor} followed by STOP.</summary>
    public static byte[] DictOf(string name, byte[] value) => Bytes((byte)0x80, 2, (byte)'}', Unicode(name), value, (byte)'s', (byte)'.');

    public static byte[] Floats(params float[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();
}
