using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Unicode;
using EdgeTvq.Checkpoints.Storage;

namespace EdgeTvq.Checkpoints.Safetensors;

/// <summary>Opens a safetensors file memory-mapped, validating the whole header before any tensor is returned.</summary>
internal static class SafetensorsReader
{
    private const string Advice = "The file is corrupt, truncated or not safetensors; re-export it (safetensors.torch.save_file).";

    private sealed record Entry(string Name, TensorDType DType, long[] Shape, long Begin, long End, int HeaderIndex);

    public static ICheckpoint Open(string path)
    {
        long fileLength = new FileInfo(path).Length;
        if (fileLength < SafetensorsFormat.LengthPrefixBytes)
            throw Fail(path, null, $"file is {fileLength} bytes, shorter than the 8-byte header length that starts every safetensors file. {Advice}");

        MappedFile file = MappedFile.Open(path);
        try
        {
            List<CheckpointTensor> tensors = ReadTensors(path, file, fileLength);
            return new LoadedCheckpoint(path, "safetensors", tensors, file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static List<CheckpointTensor> ReadTensors(string path, MappedFile file, long fileLength)
    {
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file.GetSpan(0, SafetensorsFormat.LengthPrefixBytes));
        ulong available = (ulong)(fileLength - SafetensorsFormat.LengthPrefixBytes);
        if (headerLength > available)
            throw Fail(path, null, $"header length field says {headerLength} bytes but only {available} bytes follow it. {Advice}");
        if (headerLength > SafetensorsFormat.MaxHeaderBytes)
            throw Fail(path, null, $"header is {headerLength} bytes, above the {SafetensorsFormat.MaxHeaderBytes}-byte limit. {Advice}");
        if (headerLength < 2)
            throw Fail(path, null, $"header is {headerLength} bytes, too short for a JSON object. {Advice}");

        ReadOnlySpan<byte> header = file.GetSpan(SafetensorsFormat.LengthPrefixBytes, (int)headerLength);
        if (header[0] != (byte)'{')
            throw Fail(path, null, $"header must start with '{{' but starts with byte 0x{header[0]:X2}. {Advice}");
        if (!Utf8.IsValid(header))
            throw Fail(path, null, $"header is not valid UTF-8. {Advice}");

        List<Entry> entries;
        try
        {
            entries = ParseHeader(path, header);
        }
        catch (JsonException e)
        {
            throw Fail(path, null, $"header is not valid JSON ({e.Message}). {Advice}", e);
        }

        long dataStart = SafetensorsFormat.LengthPrefixBytes + (long)headerLength;
        long dataLength = fileLength - dataStart;
        foreach (Entry e in entries)
        {
            long count, bytes;
            try
            {
                count = TensorDTypeInfo.CheckedElementCount(e.Shape);
                bytes = checked(count * e.DType.ElementSize());
            }
            catch (OverflowException)
            {
                throw Fail(path, e.Name, $"shape {TensorDTypeInfo.FormatShape(e.Shape)} overflows a 64-bit byte count. {Advice}");
            }
            if (e.End < e.Begin)
                throw Fail(path, e.Name, $"data_offsets [{e.Begin}, {e.End}] end before they begin. {Advice}");
            if (e.End - e.Begin != bytes)
                throw Fail(path, e.Name, $"{e.DType} shape {TensorDTypeInfo.FormatShape(e.Shape)} needs {bytes} bytes but data_offsets [{e.Begin}, {e.End}] span {e.End - e.Begin}. {Advice}");
            if (e.End > dataLength)
                throw Fail(path, e.Name, $"data_offsets [{e.Begin}, {e.End}] reach past the {dataLength}-byte data buffer. {Advice}");
        }

        // File order = data order; ties (empty tensors) keep header order.
        var ordered = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ThenBy(e => e.HeaderIndex).ToList();
        long cursor = 0;
        Entry? previous = null;
        foreach (Entry e in ordered)
        {
            if (e.Begin < cursor)
                throw Fail(path, e.Name, $"data_offsets [{e.Begin}, {e.End}] overlap tensor '{previous!.Name}' which ends at {cursor}. {Advice}");
            if (e.Begin > cursor)
                throw Fail(path, e.Name, $"data_offsets start at {e.Begin} but the previous tensor ends at {cursor}: {e.Begin - cursor} bytes of the data buffer belong to no tensor. {Advice}");
            cursor = e.End;
            previous = e;
        }
        if (cursor != dataLength)
            throw Fail(path, null, $"tensors cover {cursor} bytes but the data buffer holds {dataLength}: {dataLength - cursor} trailing bytes belong to no tensor. {Advice}");

        var tensors = new List<CheckpointTensor>(ordered.Count);
        foreach (Entry e in ordered)
            tensors.Add(new CheckpointTensor(path, e.Name, e.DType, e.Shape, file, dataStart + e.Begin));
        return tensors;
    }

    private static List<Entry> ParseHeader(string path, ReadOnlySpan<byte> header)
    {
        var reader = new Utf8JsonReader(header, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 16 });
        var entries = new List<Entry>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        Expect(ref reader, JsonTokenType.StartObject, path, null, "the header");
        while (true)
        {
            Read(ref reader, path, null);
            if (reader.TokenType == JsonTokenType.EndObject) break;
            string name = reader.GetString()!;
            if (!seen.Add(name))
                throw Fail(path, name, $"appears twice in the header. {Advice}");
            if (name == SafetensorsFormat.MetadataKey)
            {
                ParseMetadata(ref reader, path);
                continue;
            }
            entries.Add(ParseEntry(ref reader, path, name, entries.Count));
        }
        // Only whitespace may follow the object (Utf8JsonReader rejects a second value).
        while (reader.Read()) { }
        return entries;
    }

    private static void ParseMetadata(ref Utf8JsonReader reader, string path)
    {
        Expect(ref reader, JsonTokenType.StartObject, path, null, "__metadata__");
        while (true)
        {
            Read(ref reader, path, null);
            if (reader.TokenType == JsonTokenType.EndObject) return;
            string key = reader.GetString()!;
            Read(ref reader, path, null);
            if (reader.TokenType != JsonTokenType.String)
                throw Fail(path, null, $"__metadata__ value for '{key}' is {reader.TokenType}, expected a string. {Advice}");
        }
    }

    private static Entry ParseEntry(ref Utf8JsonReader reader, string path, string name, int index)
    {
        Expect(ref reader, JsonTokenType.StartObject, path, name, "the tensor entry");
        string? dtypeName = null;
        long[]? shape = null, offsets = null;
        while (true)
        {
            Read(ref reader, path, name);
            if (reader.TokenType == JsonTokenType.EndObject) break;
            string field = reader.GetString()!;
            switch (field)
            {
                case "dtype":
                    Expect(ref reader, JsonTokenType.String, path, name, "dtype");
                    dtypeName = reader.GetString()!;
                    break;
                case "shape":
                    shape = ReadIntegerArray(ref reader, path, name, "shape");
                    break;
                case "data_offsets":
                    offsets = ReadIntegerArray(ref reader, path, name, "data_offsets");
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }
        if (dtypeName is null || shape is null || offsets is null)
            throw Fail(path, name, $"entry lacks {(dtypeName is null ? "dtype" : shape is null ? "shape" : "data_offsets")}; each tensor needs dtype, shape and data_offsets. {Advice}");
        if (!SafetensorsFormat.TryParseDType(dtypeName, out TensorDType dtype))
            throw Fail(path, name, $"dtype '{dtypeName}' is not supported; expected one of {SafetensorsFormat.SupportedDTypes}. Convert the tensor to float32/float16/bfloat16 before saving.");
        if (offsets.Length != 2)
            throw Fail(path, name, $"data_offsets has {offsets.Length} numbers, expected [begin, end]. {Advice}");
        return new Entry(name, dtype, shape, offsets[0], offsets[1], index);
    }

    private static long[] ReadIntegerArray(ref Utf8JsonReader reader, string path, string name, string field)
    {
        Expect(ref reader, JsonTokenType.StartArray, path, name, field);
        var values = new List<long>();
        while (true)
        {
            Read(ref reader, path, name);
            if (reader.TokenType == JsonTokenType.EndArray) return values.ToArray();
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long v) || v < 0)
                throw Fail(path, name, $"{field} must hold non-negative integers, found {DescribeToken(ref reader)}. {Advice}");
            values.Add(v);
        }
    }

    private static string DescribeToken(ref Utf8JsonReader reader) =>
        reader.TokenType is JsonTokenType.Number or JsonTokenType.String
            ? System.Text.Encoding.UTF8.GetString(reader.ValueSpan)
            : reader.TokenType.ToString();

    private static void Read(ref Utf8JsonReader reader, string path, string? tensor)
    {
        if (!reader.Read())
            throw Fail(path, tensor, $"header JSON ends early. {Advice}");
    }

    private static void Expect(ref Utf8JsonReader reader, JsonTokenType type, string path, string? tensor, string what)
    {
        Read(ref reader, path, tensor);
        if (reader.TokenType != type)
            throw Fail(path, tensor, $"{what} is {reader.TokenType}, expected {type}. {Advice}");
    }

    private static CheckpointFormatException Fail(string path, string? tensor, string detail, Exception? inner = null) =>
        CheckpointFormatException.Create(path, tensor, detail, inner);
}
