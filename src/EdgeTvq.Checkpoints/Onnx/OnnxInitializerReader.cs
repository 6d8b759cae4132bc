using System.Buffers.Binary;
using System.Globalization;
using EdgeTvq.Checkpoints.Protobuf;
using EdgeTvq.Checkpoints.Storage;
using static EdgeTvq.Checkpoints.Protobuf.OnnxFields;

namespace EdgeTvq.Checkpoints.Onnx;

/// <summary>Reads the initializers (weights) of an ONNX model with the minimal protobuf decoder of <see cref="ProtoReader"/>.</summary>
internal static class OnnxInitializerReader
{
    private const string Reexport = "Re-export the model (torch.onnx.export / onnx.save_model).";

    // TensorProto.DataType values mapped to our dtypes.
    private static TensorDType? MapDataType(long onnxType) => onnxType switch
    {
        1 => TensorDType.F32,
        2 => TensorDType.U8,
        3 => TensorDType.I8,
        5 => TensorDType.I16,
        6 => TensorDType.I32,
        7 => TensorDType.I64,
        9 => TensorDType.Bool,
        10 => TensorDType.F16,
        11 => TensorDType.F64,
        16 => TensorDType.BF16,
        _ => null,
    };

    /// <summary>One parsed TensorProto before its data is resolved.</summary>
    private sealed class TensorFields
    {
        public string? Name;
        public long DataType;
        public readonly List<long> Dims = [];
        public int RawStart = -1;
        public int RawLength;
        public List<byte>? TypedBytes;      // float_data / double_data, already little-endian
        public List<long>? IntValues;       // int32_data / int64_data
        public bool External;
        public readonly Dictionary<string, string> ExternalInfo = new(StringComparer.Ordinal);
        public bool HasSegment;
    }

    public static ICheckpoint Open(string path)
    {
        // Mapped, not read onto the heap: raw_data tensors are read in place from the page cache.
        var file = MappedFile.Open(path);
        var externalFiles = new Dictionary<string, TensorStorage>(StringComparer.Ordinal);
        try
        {
            List<CheckpointTensor> tensors = Read(path, file, externalFiles);
            return new LoadedCheckpoint(path, "onnx", tensors, [.. externalFiles.Values.OfType<IDisposable>(), file]);
        }
        catch
        {
            foreach (var f in externalFiles.Values.OfType<IDisposable>()) f.Dispose();
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Checks an ONNX model that must carry every weight itself, such as a task's head graph (stored inside the
    /// task's bundle file, so no external data file can travel with it): it must parse as a model with a graph and
    /// opsets, and no initializer may live in an external data file.
    /// </summary>
    public static void CheckSelfContained(string path)
    {
        var file = MappedFile.Open(path);
        var externalFiles = new Dictionary<string, TensorStorage>(StringComparer.Ordinal);
        try
        {
            Read(path, file, externalFiles);
            if (externalFiles.Count > 0)
                throw CheckpointFormatException.Create(path, null,
                    $"keeps weights in external data files ({string.Join(", ", externalFiles.Keys)}); a head graph travels inside its task's bundle file, so export it with its weights embedded (torch.onnx.export does so below 2 GiB)");
        }
        finally
        {
            foreach (var f in externalFiles.Values.OfType<IDisposable>()) f.Dispose();
            file.Dispose();
        }
    }

    private static List<CheckpointTensor> Read(string path, TensorStorage file, Dictionary<string, TensorStorage> externalFiles)
    {
        if (file.Length > int.MaxValue)
            throw CheckpointFormatException.Create(path, null, $"is {file.Length} bytes; an ONNX protobuf cannot exceed 2 GiB (larger weights belong in external data files). {Reexport}");
        ReadOnlySpan<byte> bytes = file.GetSpan(0, (int)file.Length);
        var model = new ProtoReader(bytes, 0, path, "ModelProto", CheckpointFormatException.ProtobufErrors);
        int graphStart = -1, graphLength = 0, opsets = 0;
        while (model.TryReadTag(out int field, out WireType wt))
        {
            if (field == ModelGraph && wt == WireType.LengthDelimited)
            {
                graphLength = model.ReadLengthDelimited(out graphStart).Length;
            }
            else if (field == ModelOpsetImport && wt == WireType.LengthDelimited)
            {
                model.ReadLengthDelimited(out _);
                opsets++;
            }
            else
            {
                model.Skip(wt);
            }
        }
        if (graphStart < 0)
            throw CheckpointFormatException.Create(path, null,
                $"is not an ONNX model: no graph (ModelProto field {ModelGraph}) found. The file is truncated, corrupt or in another format; {Reexport}");
        if (opsets == 0)
            throw CheckpointFormatException.Create(path, null,
                $"ONNX model has no opset_import (ModelProto field {ModelOpsetImport}), which every exported model has; the file is probably truncated. {Reexport}");

        var graph = model.Over(bytes.Slice(graphStart, graphLength), graphStart, "GraphProto");
        var fileStorage = file;
        var tensors = new List<CheckpointTensor>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        while (graph.TryReadTag(out int field, out WireType wt))
        {
            if (field == GraphInitializer && wt == WireType.LengthDelimited)
            {
                var tensorReader = graph.ReadMessage("TensorProto");
                TensorFields fields = ParseTensor(ref tensorReader);
                CheckpointTensor tensor = Resolve(path, fileStorage, fields, externalFiles);
                if (!names.Add(tensor.Name))
                    throw CheckpointFormatException.Create(path, tensor.Name, $"two initializers share this name; ONNX requires unique names. {Reexport}");
                tensors.Add(tensor);
            }
            else if (field == GraphSparseInitializer && wt == WireType.LengthDelimited)
            {
                throw CheckpointFormatException.Create(path, null,
                    $"has sparse initializers (GraphProto field {GraphSparseInitializer}), which are not supported. Export dense weights.");
            }
            else
            {
                graph.Skip(wt);
            }
        }
        return tensors;
    }

    private static TensorFields ParseTensor(ref ProtoReader r)
    {
        var f = new TensorFields();
        while (r.TryReadTag(out int field, out WireType wt))
        {
            switch (field)
            {
                case TensorDims:
                    r.ReadRepeatedVarints(wt, f.Dims);
                    break;
                case TensorDataType when wt == WireType.Varint:
                    f.DataType = (long)r.ReadVarint();
                    break;
                case TensorName when wt == WireType.LengthDelimited:
                    f.Name = r.ReadString();
                    break;
                case TensorRawData when wt == WireType.LengthDelimited:
                    f.RawLength = r.ReadLengthDelimited(out f.RawStart).Length;
                    break;
                case TensorFloatData:
                    (f.TypedBytes ??= []).AddRange(r.ReadRepeatedFixed(wt, sizeof(float)));
                    break;
                case TensorDoubleData:
                    (f.TypedBytes ??= []).AddRange(r.ReadRepeatedFixed(wt, sizeof(double)));
                    break;
                case TensorInt32Data:
                    r.ReadRepeatedVarints(wt, f.IntValues ??= [], int32: true);
                    break;
                case TensorInt64Data:
                    r.ReadRepeatedVarints(wt, f.IntValues ??= []);
                    break;
                case TensorExternalData when wt == WireType.LengthDelimited:
                {
                    var entry = r.ReadMessage("StringStringEntryProto");
                    string? key = null, value = null;
                    while (entry.TryReadTag(out int ef, out WireType ewt))
                    {
                        if (ef == EntryKey && ewt == WireType.LengthDelimited) key = entry.ReadString();
                        else if (ef == EntryValue && ewt == WireType.LengthDelimited) value = entry.ReadString();
                        else entry.Skip(ewt);
                    }
                    if (key is not null) f.ExternalInfo[key] = value ?? "";
                    break;
                }
                case TensorDataLocation when wt == WireType.Varint:
                    f.External = r.ReadVarint() == DataLocationExternal;
                    break;
                case TensorSegment when wt == WireType.LengthDelimited:
                    r.ReadLengthDelimited(out _);
                    f.HasSegment = true;
                    break;
                default:
                    r.Skip(wt);
                    break;
            }
        }
        return f;
    }

    private static CheckpointTensor Resolve(string path, TensorStorage file, TensorFields f, Dictionary<string, TensorStorage> externalFiles)
    {
        string name = f.Name ?? "";
        if (f.HasSegment)
            throw CheckpointFormatException.Create(path, name, $"is stored in segments (TensorProto.segment), which are not supported. {Reexport}");
        TensorDType dtype = MapDataType(f.DataType) ?? throw CheckpointFormatException.Create(path, name,
            $"has ONNX data_type {DataTypeName(f.DataType)}, expected FLOAT, FLOAT16, BFLOAT16, DOUBLE, INT64, INT32, INT16, INT8, UINT8 or BOOL. Keep weights in a supported type.");
        long[] shape = f.Dims.ToArray();
        long count, bytes;
        try
        {
            count = TensorDTypeInfo.CheckedElementCount(shape);
            bytes = checked(count * dtype.ElementSize());
        }
        catch (OverflowException)
        {
            throw CheckpointFormatException.Create(path, name, $"has dims {TensorDTypeInfo.FormatShape(shape)}, negative or too large. {Reexport}");
        }

        if (f.External)
            return ResolveExternal(path, name, dtype, shape, bytes, f, externalFiles);

        if (f.RawStart >= 0)
        {
            if (f.RawLength != bytes)
                throw CheckpointFormatException.Create(path, name,
                    $"raw_data holds {f.RawLength} bytes but {dtype} dims {TensorDTypeInfo.FormatShape(shape)} need {bytes}. {Reexport}");
            return new CheckpointTensor(path, name, dtype, shape, file, f.RawStart);
        }

        byte[] data = TypedData(path, name, dtype, count, f);
        return new CheckpointTensor(path, name, dtype, shape, data.Length == 0 ? ArrayStorage.Empty : new ArrayStorage(data), 0);
    }

    /// <summary>Converts the typed repeated fields into little-endian element bytes.</summary>
    private static byte[] TypedData(string path, string name, TensorDType dtype, long count, TensorFields f)
    {
        string field = dtype switch
        {
            TensorDType.F32 => "float_data",
            TensorDType.F64 => "double_data",
            TensorDType.I64 => "int64_data",
            _ => "int32_data",
        };
        long available = dtype is TensorDType.F32 or TensorDType.F64
            ? (f.TypedBytes?.Count ?? 0) / dtype.ElementSize()
            : f.IntValues?.Count ?? 0;
        if (available != count)
            throw CheckpointFormatException.Create(path, name,
                $"has {available} values in {field} (and no raw_data) but dims {TensorDTypeInfo.FormatShape(f.Dims.ToArray())} need {count}. {Reexport}");
        if (dtype is TensorDType.F32 or TensorDType.F64)
            return f.TypedBytes?.ToArray() ?? [];

        int size = dtype.ElementSize();
        var data = new byte[count * size];
        for (int i = 0; i < count; i++)
        {
            long v = f.IntValues![i];
            Span<byte> dst = data.AsSpan(i * size, size);
            switch (dtype)
            {
                case TensorDType.I64: BinaryPrimitives.WriteInt64LittleEndian(dst, v); break;
                case TensorDType.I32: BinaryPrimitives.WriteInt32LittleEndian(dst, (int)v); break;
                // FLOAT16/BFLOAT16 keep their 16-bit patterns in the low bits of each int32 value.
                case TensorDType.I16 or TensorDType.F16 or TensorDType.BF16: BinaryPrimitives.WriteUInt16LittleEndian(dst, (ushort)v); break;
                case TensorDType.I8 or TensorDType.U8: dst[0] = (byte)v; break;
                case TensorDType.Bool: dst[0] = v != 0 ? (byte)1 : (byte)0; break;
            }
        }
        return data;
    }

    private static CheckpointTensor ResolveExternal(string path, string name, TensorDType dtype, long[] shape, long bytes,
        TensorFields f, Dictionary<string, TensorStorage> externalFiles)
    {
        if (!f.ExternalInfo.TryGetValue("location", out string? location) || location.Length == 0)
            throw CheckpointFormatException.Create(path, name, $"is marked as external data but has no 'location' entry. {Reexport}");
        string modelDir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        string dataPath = EdgeTvq.IO.LocalFile.ResolveInside(modelDir, location, out string problem)
            ?? throw CheckpointFormatException.Create(path, name,
                $"external data location '{location}' {problem}; refusing to read it. Keep the data file, as a regular file, in the model's folder '{modelDir}' (onnx.save_model writes it there).");

        long offset = ParseExternalNumber(path, name, f, "offset") ?? 0;
        long? length = ParseExternalNumber(path, name, f, "length");
        if (length is { } declared && declared != bytes)
            throw CheckpointFormatException.Create(path, name,
                $"external data length is {declared} bytes but {dtype} dims {TensorDTypeInfo.FormatShape(shape)} need {bytes}. {Reexport}");

        if (!externalFiles.TryGetValue(dataPath, out TensorStorage? storage))
        {
            storage = MappedFile.Open(dataPath);
            externalFiles[dataPath] = storage;
        }
        if (offset > storage.Length || bytes > storage.Length - offset)
            throw CheckpointFormatException.Create(path, name,
                $"external data [{offset}, {offset + bytes}) lies beyond the end of '{location}' ({storage.Length} bytes). The data file is truncated or belongs to another export; {Reexport}");
        return new CheckpointTensor(path, name, dtype, shape, storage, offset);
    }

    private static long? ParseExternalNumber(string path, string name, TensorFields f, string key)
    {
        if (!f.ExternalInfo.TryGetValue(key, out string? text)) return null;
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long v))
            throw CheckpointFormatException.Create(path, name, $"external data {key} '{text}' is not a non-negative integer. {Reexport}");
        return v;
    }
}
