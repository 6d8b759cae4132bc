using EdgeTvq.Checkpoints.Protobuf;

namespace EdgeTvq.Runtime.Inference;

/// <summary>One graph initializer as found in the model bytes.</summary>
/// <param name="Name">TensorProto.name.</param>
/// <param name="DataType">TensorProto.data_type (1 = FLOAT).</param>
/// <param name="Dims">TensorProto.dims.</param>
/// <param name="IsExternal">data_location = EXTERNAL: the elements live in a file next to the model.</param>
public sealed record OnnxInitializer(string Name, int DataType, long[] Dims, bool IsExternal)
{
    public long ElementCount => Dims.Aggregate(1L, (a, d) => checked(a * d));
}

/// <summary>Where one initializer sits in the model bytes, and what re-encoding it keeps.</summary>
internal sealed class InitializerField
{
    public required OnnxInitializer Info { get; init; }

    /// <summary>Absolute range of the whole GraphProto.initializer field (tag, length, TensorProto).</summary>
    public required int FieldStart { get; init; }
    public required int FieldLength { get; init; }

    /// <summary>Absolute ranges of the TensorProto fields that do not hold data (dims, data_type, name, doc_string, ...).</summary>
    public required List<(int Start, int Length)> KeptFields { get; init; }

    /// <summary>StringStringEntryProto key/value pairs of external_data (location, offset, length, ...).</summary>
    public required Dictionary<string, string> ExternalData { get; init; }
}

/// <summary>
/// The byte layout of an ONNX ModelProto, found in one pass: the graph field, every initializer and the graph input
/// names. Nothing is copied; the rewriter uses the offsets to copy unchanged fields byte for byte.
/// </summary>
internal sealed class OnnxModelLayout
{
    private OnnxModelLayout(string path) => ModelPath = path;

    public string ModelPath { get; }

    /// <summary>Absolute range of the whole ModelProto.graph field and of its payload (the GraphProto).</summary>
    public int GraphFieldStart { get; private set; }
    public int GraphFieldEnd { get; private set; }
    public int GraphPayloadStart { get; private set; }
    public int GraphPayloadEnd { get; private set; }

    public List<InitializerField> Initializers { get; } = [];

    public HashSet<string> InputNames { get; } = new(StringComparer.Ordinal);

    public static OnnxModelLayout Parse(ReadOnlySpan<byte> model, string modelPath)
    {
        var layout = new OnnxModelLayout(modelPath);
        var reader = new ProtoReader(model, 0, modelPath, "ModelProto", OnnxModelException.ProtobufErrors);
        int graphs = 0;
        while (reader.TryReadTag(out int field, out WireType wt, out int fieldStart))
        {
            if (field == OnnxFields.ModelGraph && wt == WireType.LengthDelimited)
            {
                ReadOnlySpan<byte> graph = reader.ReadLengthDelimited(out int payloadStart);
                if (++graphs > 1)
                    throw reader.Corrupt($"has more than one graph field ({OnnxFields.ModelGraph}); exporters write exactly one");
                layout.GraphFieldStart = fieldStart;
                layout.GraphFieldEnd = reader.Position;
                layout.GraphPayloadStart = payloadStart;
                layout.GraphPayloadEnd = payloadStart + graph.Length;
                layout.ParseGraph(reader.Over(graph, payloadStart, "GraphProto"));
            }
            else
            {
                reader.Skip(wt);
            }
        }
        if (graphs == 0)
            throw new OnnxModelException(modelPath, null,
                $"is not an ONNX model: no graph (ModelProto field {OnnxFields.ModelGraph}) found. The file is truncated, corrupt or in another format.");
        return layout;
    }

    private void ParseGraph(ProtoReader graph)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        while (graph.TryReadTag(out int field, out WireType wt, out int fieldStart))
        {
            if (field == OnnxFields.GraphInitializer && wt == WireType.LengthDelimited)
            {
                ProtoReader tensor = graph.ReadMessage("TensorProto");
                InitializerField init = ParseTensor(ref tensor, fieldStart, graph.Position - fieldStart);
                if (!names.Add(init.Info.Name))
                    throw new OnnxModelException(ModelPath, init.Info.Name, "two initializers share this name; ONNX requires unique names.");
                Initializers.Add(init);
            }
            else if (field == OnnxFields.GraphInput && wt == WireType.LengthDelimited)
            {
                ProtoReader valueInfo = graph.ReadMessage("ValueInfoProto");
                while (valueInfo.TryReadTag(out int vf, out WireType vwt, out _))
                {
                    if (vf == OnnxFields.ValueInfoName && vwt == WireType.LengthDelimited) InputNames.Add(valueInfo.ReadString());
                    else valueInfo.Skip(vwt);
                }
            }
            else
            {
                graph.Skip(wt);
            }
        }
    }

    private InitializerField ParseTensor(ref ProtoReader r, int fieldStart, int fieldLength)
    {
        string? name = null;
        int dataType = 0;
        bool external = false;
        var dims = new List<long>();
        var kept = new List<(int, int)>();
        var externalData = new Dictionary<string, string>(StringComparer.Ordinal);
        while (r.TryReadTag(out int field, out WireType wt, out int start))
        {
            switch (field)
            {
                case OnnxFields.TensorDims:
                    r.ReadRepeatedVarints(wt, dims);
                    break;
                case OnnxFields.TensorDataType when wt == WireType.Varint:
                    dataType = (int)r.ReadVarint();
                    break;
                case OnnxFields.TensorName when wt == WireType.LengthDelimited:
                    name = r.ReadString();
                    break;
                case OnnxFields.TensorDataLocation when wt == WireType.Varint:
                    external = r.ReadVarint() == OnnxFields.DataLocationExternal;
                    break;
                case OnnxFields.TensorExternalData when wt == WireType.LengthDelimited:
                    ReadEntry(r.ReadMessage("StringStringEntryProto"), externalData);
                    break;
                default:
                    r.Skip(wt);
                    break;
            }
            if (!OnnxFields.IsTensorDataField(field)) kept.Add((start, r.Position - start));
        }
        if (name is null) throw r.Corrupt("is an initializer without a name");
        if (dims.Any(d => d < 0)) throw r.Corrupt($"has negative dims [{string.Join(", ", dims)}]", name);
        return new InitializerField
        {
            Info = new OnnxInitializer(name, dataType, dims.ToArray(), external),
            FieldStart = fieldStart,
            FieldLength = fieldLength,
            KeptFields = kept,
            ExternalData = externalData,
        };
    }

    private static void ReadEntry(ProtoReader entry, Dictionary<string, string> into)
    {
        string? key = null, value = null;
        while (entry.TryReadTag(out int field, out WireType wt, out _))
        {
            if (field == OnnxFields.EntryKey && wt == WireType.LengthDelimited) key = entry.ReadString();
            else if (field == OnnxFields.EntryValue && wt == WireType.LengthDelimited) value = entry.ReadString();
            else entry.Skip(wt);
        }
        if (key is not null) into[key] = value ?? "";
    }
}
