using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using EdgeTvq.Checkpoints.Safetensors;

namespace EdgeTvq.Checkpoints;

/// <summary>Writes safetensors files (layout in <see cref="SafetensorsFormat"/>): header and data in the order given.</summary>
public static class SafetensorsWriter
{
    /// <summary>
    /// Writes tensors whose <c>Data</c> holds the little-endian element bytes (exactly element count × dtype size).
    /// The file is written to a temporary name next to <paramref name="path"/> and then moved into place.
    /// </summary>
    public static void Write(string path, IEnumerable<(string Name, TensorDType DType, long[] Shape, ReadOnlyMemory<byte> Data)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tensors);
        var list = tensors.ToList();

        var json = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            if (metadata is not null && metadata.Count > 0)
            {
                writer.WriteStartObject(SafetensorsFormat.MetadataKey);
                foreach (var (key, value) in metadata)
                {
                    ArgumentNullException.ThrowIfNull(value, $"metadata['{key}']");
                    writer.WriteString(key, value);
                }
                writer.WriteEndObject();
            }

            var names = new HashSet<string>(StringComparer.Ordinal);
            long offset = 0;
            foreach (var (name, dtype, shape, data) in list)
            {
                ArgumentNullException.ThrowIfNull(name);
                ArgumentNullException.ThrowIfNull(shape);
                if (name == SafetensorsFormat.MetadataKey)
                    throw new ArgumentException($"'{SafetensorsFormat.MetadataKey}' is reserved and cannot name a tensor.", nameof(tensors));
                if (!names.Add(name))
                    throw new ArgumentException($"tensor name '{name}' appears twice.", nameof(tensors));
                long count;
                try
                {
                    count = TensorDTypeInfo.CheckedElementCount(shape);
                }
                catch (OverflowException)
                {
                    throw new ArgumentException($"tensor '{name}': shape {TensorDTypeInfo.FormatShape(shape)} has a negative or overflowing dimension.", nameof(tensors));
                }
                long bytes = checked(count * dtype.ElementSize());
                if (data.Length != bytes)
                    throw new ArgumentException($"tensor '{name}': {dtype} shape {TensorDTypeInfo.FormatShape(shape)} needs {bytes} bytes but {data.Length} were given.", nameof(tensors));

                writer.WriteStartObject(name);
                writer.WriteString("dtype", SafetensorsFormat.DTypeName(dtype));
                writer.WriteStartArray("shape");
                foreach (long d in shape) writer.WriteNumberValue(d);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset + bytes);
                writer.WriteEndArray();
                writer.WriteEndObject();
                offset += bytes;
            }
            writer.WriteEndObject();
        }

        int padding = (SafetensorsFormat.HeaderAlignment - json.WrittenCount % SafetensorsFormat.HeaderAlignment) % SafetensorsFormat.HeaderAlignment;
        Span<byte> prefix = stackalloc byte[SafetensorsFormat.LengthPrefixBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)(json.WrittenCount + padding));

        string full = Path.GetFullPath(path);
        string temp = full + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                stream.Write(prefix);
                stream.Write(json.WrittenSpan);
                for (int i = 0; i < padding; i++) stream.WriteByte((byte)' ');
                foreach (var t in list) stream.Write(t.Data.Span);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Writes float32 tensors; <c>Data.Length</c> must equal the product of <c>Shape</c>.</summary>
    public static void WriteFloat32(string path, IEnumerable<(string Name, long[] Shape, float[] Data)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        Write(path, tensors.Select(t =>
        {
            ArgumentNullException.ThrowIfNull(t.Data, $"data of '{t.Name}'");
            return (t.Name, TensorDType.F32, t.Shape, ToLittleEndianBytes(t.Data));
        }), metadata);
    }

    private static ReadOnlyMemory<byte> ToLittleEndianBytes(float[] data)
    {
        if (BitConverter.IsLittleEndian && data.LongLength * 4 <= int.MaxValue)
            return new FloatBytes(data).Memory; // no copy: the float array already is little-endian bytes
        var bytes = new byte[checked(data.Length * 4)];
        for (int i = 0; i < data.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), data[i]);
        return bytes;
    }

    /// <summary>Exposes a float array as bytes without copying.</summary>
    private sealed class FloatBytes(float[] data) : MemoryManager<byte>
    {
        public override Span<byte> GetSpan() => MemoryMarshal.AsBytes(data.AsSpan());

        public override unsafe MemoryHandle Pin(int elementIndex = 0)
        {
            // The MemoryHandle owns (and frees) this handle when it is disposed.
            GCHandle handle = GCHandle.Alloc(data, GCHandleType.Pinned);
            return new MemoryHandle((byte*)handle.AddrOfPinnedObject() + elementIndex, handle);
        }

        public override void Unpin() { }

        protected override void Dispose(bool disposing) { }
    }
}
