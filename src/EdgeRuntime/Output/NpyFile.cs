using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace EdgeTvq.Runtime.Output;

/// <summary>
/// An array read from a .npy file in C order, and its shape: float32 in <see cref="Floats"/>, int32 and int16 in
/// <see cref="Ints"/>, uint8 in <see cref="Bytes"/>.
/// </summary>
public sealed class NpyArray
{
    internal NpyArray(int[] shape, string dtype, float[]? floats = null, int[]? ints = null, byte[]? bytes = null)
    {
        Shape = shape;
        Dtype = dtype;
        Floats = floats;
        Ints = ints;
        Bytes = bytes;
    }

    public int[] Shape { get; }

    /// <summary>The values when the file's dtype is little-endian float32 (<c>&lt;f4</c>), else null.</summary>
    public float[]? Floats { get; }

    /// <summary>The values when the file's dtype is little-endian int32 (<c>&lt;i4</c>) or int16 (<c>&lt;i2</c>, widened), else null.</summary>
    public int[]? Ints { get; }

    /// <summary>The values when the file's dtype is uint8 (<c>|u1</c>), else null.</summary>
    public byte[]? Bytes { get; }

    /// <summary>The file's dtype as NumPy writes it: <c>&lt;f4</c>, <c>&lt;i4</c>, <c>&lt;i2</c> or <c>|u1</c>.</summary>
    public string Dtype { get; }
}

/// <summary>
/// NumPy .npy files, format version 1.0: the magic <c>\x93NUMPY</c>, version 1.0, a little-endian uint16 header length,
/// an ASCII dict header (<c>descr</c>, <c>fortran_order</c>, <c>shape</c>) padded with spaces and ended by a newline so
/// that the data starts at a multiple of 64 bytes, then the raw little-endian values in C order. <c>&lt;f4</c> and
/// <c>&lt;i4</c> are written; those, <c>&lt;i2</c> and <c>|u1</c> (the dense zoo's labels and images) are read.
/// </summary>
public static class NpyFile
{
    static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    public static void Write(string path, ReadOnlySpan<float> data, ReadOnlySpan<int> shape) =>
        WriteFile(path, "<f4", MemoryMarshal.AsBytes(data), data.Length, shape);

    public static void Write(string path, ReadOnlySpan<int> data, ReadOnlySpan<int> shape) =>
        WriteFile(path, "<i4", MemoryMarshal.AsBytes(data), data.Length, shape);

    /// <summary>The bytes of a .npy v1.0 file: header then data (the data converted to little endian if needed).</summary>
    public static byte[] Encode(ReadOnlySpan<float> data, ReadOnlySpan<int> shape) =>
        Encode("<f4", MemoryMarshal.AsBytes(data), data.Length, shape);

    public static byte[] Encode(ReadOnlySpan<int> data, ReadOnlySpan<int> shape) =>
        Encode("<i4", MemoryMarshal.AsBytes(data), data.Length, shape);

    static void WriteFile(string path, string descr, ReadOnlySpan<byte> raw, int count, ReadOnlySpan<int> shape)
    {
        byte[] bytes = Encode(descr, raw, count, shape);
        AtomicFile.Write(path, bytes);
    }

    static byte[] Encode(string descr, ReadOnlySpan<byte> raw, int count, ReadOnlySpan<int> shape)
    {
        long product = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentOutOfRangeException(nameof(shape), $"shape dimension {d} is negative");
            product *= d;
        }
        if (product != count) throw new ArgumentException($"shape ({string.Join(", ", shape.ToArray())}) holds {product} values, data has {count}", nameof(shape));

        var sb = new StringBuilder("{'descr': '").Append(descr).Append("', 'fortran_order': False, 'shape': (");
        for (int i = 0; i < shape.Length; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(shape[i].ToString(CultureInfo.InvariantCulture));
        }
        if (shape.Length == 1) sb.Append(',');
        sb.Append("), }");
        // magic (6) + version (2) + header length (2) + header + '\n' padded to a multiple of 64.
        int unpadded = 10 + sb.Length + 1;
        int total = (unpadded + 63) / 64 * 64;
        sb.Append(' ', total - unpadded).Append('\n');
        if (sb.Length > ushort.MaxValue) throw new ArgumentException("shape too long for a version 1.0 header", nameof(shape));

        var bytes = new byte[total + raw.Length];
        Magic.CopyTo(bytes);
        bytes[6] = 1;
        bytes[7] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)sb.Length);
        Encoding.ASCII.GetBytes(sb.ToString(), bytes.AsSpan(10));
        Span<byte> body = bytes.AsSpan(total);
        raw.CopyTo(body);
        if (!BitConverter.IsLittleEndian)
        {
            Span<int> words = MemoryMarshal.Cast<byte, int>(body);
            BinaryPrimitives.ReverseEndianness(words, words);
        }
        return bytes;
    }

    public static NpyArray Read(string path) => Decode(File.ReadAllBytes(path), path);

    /// <summary>
    /// Items [<paramref name="first"/>, first + <paramref name="count"/>) along the first axis of a .npy file, read
    /// without loading the rest (a test set of hundreds of images is read one batch at a time). Same dtypes as
    /// <see cref="Decode"/>; <paramref name="count"/> is clamped to the items the file has.
    /// </summary>
    public static NpyArray Read(string path, int first, int count)
    {
        using var file = File.OpenRead(path);
        // The header is at most 64 KiB in version 1.0; versions 2.0/3.0 allow more, so read what the prefix declares.
        var prefix = new byte[12];
        file.ReadExactly(prefix, 0, (int)Math.Min(12, file.Length));
        int major = prefix[6];
        long headerEnd = major == 1 ? 10 + BinaryPrimitives.ReadUInt16LittleEndian(prefix.AsSpan(8)) : 12 + (long)BinaryPrimitives.ReadUInt32LittleEndian(prefix.AsSpan(8));
        if (headerEnd > file.Length || headerEnd > int.MaxValue) throw new InvalidDataException($"{path}: truncated .npy header");
        var head = new byte[headerEnd];
        file.Position = 0;
        file.ReadExactly(head);
        var (descr, shape, dataStart, fortran) = ParseHeader(head, path, requireBody: false);
        if (shape.Length == 0) throw new InvalidDataException($"{path}: a 0-d array has no items to slice");
        if (fortran && shape.Length > 1) throw new InvalidDataException($"{path}: a Fortran-order array's items are not contiguous; read it whole");
        if (first < 0 || first > shape[0]) throw new ArgumentOutOfRangeException(nameof(first), $"{path}: item {first} is outside the file's {shape[0]} items");
        count = Math.Clamp(count, 0, shape[0] - first);
        int itemSize = ItemSize(descr, path);
        long per = 1;
        foreach (int d in shape.AsSpan(1)) per *= d;
        long bytesPer = per * itemSize;
        if (dataStart + shape[0] * bytesPer != file.Length)
            throw new InvalidDataException($"{path}: shape ({string.Join(", ", shape)}) needs {shape[0] * bytesPer} data bytes, the file has {file.Length - dataStart}");
        var body = new byte[checked(count * bytesPer)];
        file.Position = dataStart + first * bytesPer;
        file.ReadExactly(body);
        return Values(descr, body, [count, .. shape[1..]]);
    }

    /// <summary>
    /// Parses a .npy file of version 1.0, 2.0 or 3.0 in C or Fortran order (the latter returned in C order) whose dtype is <c>&lt;f4</c> (float32), <c>&lt;i4</c>
    /// (int32), <c>&lt;i2</c> (int16, widened to <see cref="NpyArray.Ints"/>) or <c>|u1</c> (uint8,
    /// <see cref="NpyArray.Bytes"/>); anything else is refused with the reason.
    /// </summary>
    public static NpyArray Decode(ReadOnlySpan<byte> bytes, string source = "npy data")
    {
        var (descr, shape, dataStart, fortran) = ParseHeader(bytes, source, requireBody: true);
        if (!fortran || shape.Length < 2) return Values(descr, bytes[dataStart..], shape);
        // Fortran order is C order of the reversed shape: read it so, then transpose into C order.
        var reversed = Values(descr, bytes[dataStart..], shape.Reverse().ToArray());
        var order = ToCOrder(shape);
        return new NpyArray(shape, descr, Permute(reversed.Floats, order), Permute(reversed.Ints, order), Permute(reversed.Bytes, order));
    }

    /// <summary>For each C-order position of an array of <paramref name="shape"/>, where it sits in Fortran order.</summary>
    static int[] ToCOrder(int[] shape)
    {
        int count = shape.Aggregate(1, (a, d) => a * d);
        var at = new int[count];
        var index = new int[shape.Length];
        for (int i = 0; i < count; i++)
        {
            int f = 0, stride = 1;
            for (int d = 0; d < shape.Length; d++) { f += index[d] * stride; stride *= shape[d]; }
            at[i] = f;
            for (int d = shape.Length - 1; d >= 0 && ++index[d] == shape[d]; d--) index[d] = 0;
        }
        return at;
    }

    static T[]? Permute<T>(T[]? values, int[] order) => values is null ? null : order.Select(i => values[i]).ToArray();

    /// <summary>The header of a .npy file: dtype, shape and where the data starts.</summary>
    static (string Descr, int[] Shape, int DataStart, bool Fortran) ParseHeader(ReadOnlySpan<byte> bytes, string source, bool requireBody)
    {
        if (bytes.Length < 10 || !bytes.StartsWith(Magic)) throw new InvalidDataException($"{source}: not a .npy file (magic missing)");
        int major = bytes[6];
        int headerLength, headerStart;
        if (major == 1)
        {
            headerLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes[8..]);
            headerStart = 10;
        }
        else if (major is 2 or 3)
        {
            if (bytes.Length < 12) throw new InvalidDataException($"{source}: truncated .npy header");
            uint len = BinaryPrimitives.ReadUInt32LittleEndian(bytes[8..]);
            if (len > int.MaxValue - 12) throw new InvalidDataException($"{source}: .npy header length {len} is too large");
            headerLength = (int)len;
            headerStart = 12;
        }
        else throw new InvalidDataException($"{source}: .npy format version {major}.{bytes[7]} is not supported");
        if (bytes.Length < headerStart + headerLength) throw new InvalidDataException($"{source}: truncated .npy header");
        string header = Encoding.UTF8.GetString(bytes.Slice(headerStart, headerLength));

        string descr = StringValue(header, "descr", source);
        int itemSize = ItemSize(descr, source);
        string fortranValue = RawValue(header, "fortran_order", source);
        bool fortran = fortranValue.StartsWith("True", StringComparison.Ordinal);
        if (!fortran && !fortranValue.StartsWith("False", StringComparison.Ordinal))
            throw new InvalidDataException($"{source}: .npy header 'fortran_order' is neither True nor False");
        int[] shape = ShapeValue(header, source);
        if (requireBody)
        {
            long count = 1;
            foreach (int d in shape) count *= d;
            long body = bytes.Length - (headerStart + headerLength);
            if (count * itemSize != body)
                throw new InvalidDataException($"{source}: shape ({string.Join(", ", shape)}) needs {count * itemSize} data bytes, the file has {body}");
        }
        return (descr, shape, headerStart + headerLength, fortran);
    }

    /// <summary>Bytes per value of the dtypes read; others are refused.</summary>
    static int ItemSize(string descr, string source) => descr switch
    {
        "<f4" or "<i4" => 4,
        "<i2" => 2,
        "|u1" or "<u1" => 1,
        _ => throw new InvalidDataException($"{source}: dtype '{descr}' is not supported (only '<f4', '<i4', '<i2' and '|u1')"),
    };

    /// <summary>The values of <paramref name="body"/> (little endian, C order), already checked to fill <paramref name="shape"/>.</summary>
    static NpyArray Values(string descr, ReadOnlySpan<byte> body, int[] shape)
    {
        switch (descr)
        {
            case "<f4":
                {
                    var values = new float[body.Length / 4];
                    body.CopyTo(MemoryMarshal.AsBytes(values.AsSpan()));
                    if (!BitConverter.IsLittleEndian)
                    {
                        Span<int> words = MemoryMarshal.Cast<float, int>(values.AsSpan());
                        BinaryPrimitives.ReverseEndianness(words, words);
                    }
                    return new NpyArray(shape, "<f4", floats: values);
                }
            case "<i4":
                {
                    var values = new int[body.Length / 4];
                    body.CopyTo(MemoryMarshal.AsBytes(values.AsSpan()));
                    if (!BitConverter.IsLittleEndian) BinaryPrimitives.ReverseEndianness(values.AsSpan(), values.AsSpan());
                    return new NpyArray(shape, "<i4", ints: values);
                }
            case "<i2":
                {
                    var values = new int[body.Length / 2];
                    for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadInt16LittleEndian(body[(2 * i)..]);
                    return new NpyArray(shape, "<i2", ints: values);
                }
            default:
                return new NpyArray(shape, "|u1", bytes: body.ToArray());
        }
    }

    /// <summary>The text after <c>'key':</c> in the header dict, with leading spaces removed.</summary>
    static string RawValue(string header, string key, string source)
    {
        string quoted = "'" + key + "'";
        int at = header.IndexOf(quoted, StringComparison.Ordinal);
        if (at < 0) throw new InvalidDataException($"{source}: .npy header lacks '{key}'");
        int colon = header.IndexOf(':', at + quoted.Length);
        if (colon < 0) throw new InvalidDataException($"{source}: .npy header entry '{key}' has no value");
        return header[(colon + 1)..].TrimStart();
    }

    static string StringValue(string header, string key, string source)
    {
        string rest = RawValue(header, key, source);
        if (rest.Length == 0 || rest[0] is not ('\'' or '"')) throw new InvalidDataException($"{source}: .npy header '{key}' is not a string");
        int end = rest.IndexOf(rest[0], 1);
        if (end < 0) throw new InvalidDataException($"{source}: .npy header '{key}' is unterminated");
        return rest[1..end];
    }

    static int[] ShapeValue(string header, string source)
    {
        string rest = RawValue(header, "shape", source);
        int close = rest.IndexOf(')');
        if (!rest.StartsWith('(') || close < 0) throw new InvalidDataException($"{source}: .npy header shape is not a tuple");
        var dims = new List<int>();
        foreach (string part in rest[1..close].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            string digits = part.EndsWith('L') ? part[..^1] : part;
            if (!int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int d))
                throw new InvalidDataException($"{source}: .npy shape entry '{part}' is not a non-negative int32");
            dims.Add(d);
        }
        long count = 1;
        foreach (int d in dims)
        {
            count *= d;
            if (count > Array.MaxLength / 4) throw new InvalidDataException($"{source}: .npy shape is too large");
        }
        return dims.ToArray();
    }
}

/// <summary>Writes a file whole under a temporary name beside it, then renames it into place.</summary>
static class AtomicFile
{
    public static void Write(string path, ReadOnlySpan<byte> bytes)
    {
        string full = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(full)!, "." + Path.GetFileName(full) + ".tmp-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
                fs.Write(bytes);
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }
}
