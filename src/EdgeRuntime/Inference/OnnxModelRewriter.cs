using System.Runtime.InteropServices;
using EdgeTvq.Checkpoints.Protobuf;
using EdgeTvq.Merging;

namespace EdgeTvq.Runtime.Inference;

/// <summary>A model rewritten so that the task-dependent weights are graph inputs.</summary>
/// <param name="Bytes">The rewritten ModelProto, self-contained (no external data).</param>
/// <param name="WeightInputs">The initializers that became graph inputs, in file order; bind one float32 tensor to each per run.</param>
public sealed record WeightInputsModel(byte[] Bytes, IReadOnlyList<OnnxInitializer> WeightInputs);

/// <summary>
/// Rewrites ONNX model bytes so merged weights reach ONNX Runtime correctly. (Overriding initializers with
/// SessionOptions.AddInitializer is NOT correct once graph optimization is on: constant folding and fusions keep the
/// file's values; see shared/notes/toolchain.md.) Only the graph field is re-encoded: every other ModelProto field,
/// and every GraphProto field but the touched initializers, is copied byte for byte; the output is written into one
/// exactly-sized array.
/// <para>
/// Initializers with external data that are not replaced are inlined as raw_data (read from the data file next to
/// <c>modelPath</c>), so both results load from memory with no external data folder. Constant nodes whose tensors use
/// external data (onnx's convert_attribute=True) are not rewritten; ONNX Runtime then reports them.
/// </para>
/// </summary>
public static class OnnxModelRewriter
{
    /// <summary>Every initializer of the model, in file order.</summary>
    /// <param name="modelPath">Names the model in errors.</param>
    public static IReadOnlyList<OnnxInitializer> Initializers(ReadOnlySpan<byte> model, string modelPath) =>
        OnnxModelLayout.Parse(model, modelPath).Initializers.Select(i => i.Info).ToList();

    /// <summary>
    /// Moves the initializers named in <paramref name="names"/> (null: every FLOAT initializer) from
    /// graph.initializer to graph.input (ValueInfoProto with elem_type and dims), so each run binds them.
    /// </summary>
    /// <param name="modelPath">The file the bytes came from: names it in errors, and external data is read from its folder.</param>
    public static WeightInputsModel WeightsAsInputs(ReadOnlySpan<byte> model, string modelPath, IReadOnlyCollection<string>? names = null)
    {
        OnnxModelLayout layout = OnnxModelLayout.Parse(model, modelPath);
        Dictionary<string, InitializerField> selected = Select(layout, names);
        var pieces = new List<Piece>();
        int cursor = layout.GraphPayloadStart;
        foreach (InitializerField init in layout.Initializers)
        {
            pieces.Add(new Copy(cursor, init.FieldStart - cursor));
            cursor = init.FieldStart + init.FieldLength;
            if (selected.ContainsKey(init.Info.Name)) continue; // dropped: becomes an input below
            pieces.Add(KeepOrInline(modelPath, init));
        }
        pieces.Add(new Copy(cursor, layout.GraphPayloadEnd - cursor));
        List<OnnxInitializer> inputs = layout.Initializers.Where(i => selected.ContainsKey(i.Info.Name)).Select(i => i.Info).ToList();
        // IR < 4 lists initializers among the inputs already; never declare an input twice.
        foreach (OnnxInitializer w in inputs.Where(w => !layout.InputNames.Contains(w.Name)))
            pieces.Add(new Encoded(EncodeTensorInput(w)));
        return new WeightInputsModel(Assemble(model, layout, pieces), inputs);
    }

    /// <summary>
    /// Replaces each initializer named in <paramref name="names"/> (null: every FLOAT initializer) by a TensorProto
    /// with raw_data = the float32 little-endian bytes of the same-named tensor of <paramref name="weights"/>
    /// (dims, data_type, name and other non-data fields are kept; external_data and data_location are dropped).
    /// The weight set must hold exactly those tensors with the model's shapes. It is only read, not disposed.
    /// Peak memory: the input bytes, the weights and the result (about model size + weight bytes) at once.
    /// </summary>
    /// <param name="modelPath">The file the bytes came from: names it in errors, and external data is read from its folder.</param>
    public static byte[] Embed(ReadOnlySpan<byte> model, string modelPath, WeightSet weights, IReadOnlyCollection<string>? names = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("raw_data is little-endian; big-endian hosts are not supported.");
        OnnxModelLayout layout = OnnxModelLayout.Parse(model, modelPath);
        Dictionary<string, InitializerField> selected = Select(layout, names);
        CheckWeights(modelPath, layout.Initializers.Where(i => selected.ContainsKey(i.Info.Name)).Select(i => i.Info).ToList(), weights);
        var pieces = new List<Piece>();
        int cursor = layout.GraphPayloadStart;
        foreach (InitializerField init in layout.Initializers)
        {
            pieces.Add(new Copy(cursor, init.FieldStart - cursor));
            cursor = init.FieldStart + init.FieldLength;
            pieces.Add(selected.ContainsKey(init.Info.Name)
                ? new NewTensor(init, new WeightBytes(weights, init.Info.Name))
                : KeepOrInline(modelPath, init));
        }
        pieces.Add(new Copy(cursor, layout.GraphPayloadEnd - cursor));
        return Assemble(model, layout, pieces);
    }

    /// <summary>
    /// Throws unless <paramref name="weights"/> holds exactly the tensors of <paramref name="expected"/>, each with
    /// the model's dims. Messages name the model and the first mismatching tensor.
    /// </summary>
    internal static void CheckWeights(string modelPath, IReadOnlyList<OnnxInitializer> expected, WeightSet weights)
    {
        foreach (OnnxInitializer w in expected)
        {
            if (!weights.Contains(w.Name))
                throw new OnnxModelException(modelPath, w.Name,
                    $"the weight set has no tensor of this name ({weights.Count} tensors given, the model needs {expected.Count}).");
            long[] shape = weights.ShapeOf(w.Name);
            if (!shape.AsSpan().SequenceEqual(w.Dims))
                throw new OnnxModelException(modelPath, w.Name,
                    $"the weight set holds shape [{string.Join(", ", shape)}] but the model's initializer has dims [{string.Join(", ", w.Dims)}].");
        }
        var needed = expected.Select(w => w.Name).ToHashSet(StringComparer.Ordinal);
        string? extra = weights.Names.FirstOrDefault(n => !needed.Contains(n));
        if (extra is not null)
            throw new OnnxModelException(modelPath, extra,
                "the weight set holds this tensor but the model has no such replaceable initializer (not a FLOAT initializer, or not among the selected names); the weights belong to another model.");
    }

    private static Dictionary<string, InitializerField> Select(OnnxModelLayout layout, IReadOnlyCollection<string>? names)
    {
        var byName = layout.Initializers.ToDictionary(i => i.Info.Name, StringComparer.Ordinal);
        if (names is null)
            return layout.Initializers.Where(i => i.Info.DataType == OnnxFields.DataTypeFloat).ToDictionary(i => i.Info.Name, StringComparer.Ordinal);
        var selected = new Dictionary<string, InitializerField>(StringComparer.Ordinal);
        foreach (string name in names)
        {
            if (!byName.TryGetValue(name, out InitializerField? init))
                throw new OnnxModelException(layout.ModelPath, name, $"no initializer of this name in the model ({layout.Initializers.Count} initializers).");
            if (init.Info.DataType != OnnxFields.DataTypeFloat)
                throw new OnnxModelException(layout.ModelPath, name, $"has data_type {init.Info.DataType}; only FLOAT (1) initializers can take merged weights.");
            selected[name] = init;
        }
        return selected;
    }

    private static Piece KeepOrInline(string modelPath, InitializerField init) => init.Info.IsExternal
        ? new NewTensor(init, new FileBytes(ExternalTensorData.Resolve(modelPath, init)))
        : new Copy(init.FieldStart, init.FieldLength);

    /// <summary>Writes model[..graph] + the new graph field + model[graph end..] into one exactly-sized array.</summary>
    private static byte[] Assemble(ReadOnlySpan<byte> model, OnnxModelLayout layout, List<Piece> graphPieces)
    {
        long graphLength = graphPieces.Sum(p => p.Size);
        long total = checked(layout.GraphFieldStart + ProtoWriter.LengthDelimitedSize(OnnxFields.ModelGraph, graphLength)
                             + (model.Length - layout.GraphFieldEnd));
        if (total > Array.MaxLength)
            throw new OnnxModelException(layout.ModelPath, null,
                $"the rewritten model would be {total} bytes; a protobuf ONNX model is limited to 2 GiB. Use SessionMode.WeightsAsInputs, which keeps the weights out of the model bytes.");
        byte[] result = GC.AllocateUninitializedArray<byte>((int)total);
        var w = new ProtoWriter(result);
        w.Raw(model[..layout.GraphFieldStart]);
        w.LengthPrefix(OnnxFields.ModelGraph, graphLength);
        foreach (Piece p in graphPieces) p.Write(ref w, model);
        w.Raw(model[layout.GraphFieldEnd..]);
        if (w.Position != result.Length)
            throw new InvalidOperationException($"internal error: rewrote {w.Position} bytes of {result.Length} planned for {layout.ModelPath}");
        return result;
    }

    /// <summary>GraphProto.input field: ValueInfoProto { name, type { tensor_type { elem_type, shape { dim { dim_value }... } } } }.</summary>
    private static byte[] EncodeTensorInput(OnnxInitializer w)
    {
        byte[] name = System.Text.Encoding.UTF8.GetBytes(w.Name);
        long shape = w.Dims.Sum(d => ProtoWriter.LengthDelimitedSize(OnnxFields.ShapeDim, ProtoWriter.VarintFieldSize(OnnxFields.DimValue, (ulong)d)));
        long tensorType = ProtoWriter.VarintFieldSize(OnnxFields.TensorTypeElemType, (ulong)w.DataType)
                          + ProtoWriter.LengthDelimitedSize(OnnxFields.TensorTypeShape, shape);
        long type = ProtoWriter.LengthDelimitedSize(OnnxFields.TypeTensorType, tensorType);
        long valueInfo = ProtoWriter.LengthDelimitedSize(OnnxFields.ValueInfoName, name.Length)
                         + ProtoWriter.LengthDelimitedSize(OnnxFields.ValueInfoType, type);
        var bytes = new byte[ProtoWriter.LengthDelimitedSize(OnnxFields.GraphInput, valueInfo)];
        var pw = new ProtoWriter(bytes);
        pw.LengthPrefix(OnnxFields.GraphInput, valueInfo);
        pw.BytesField(OnnxFields.ValueInfoName, name);
        pw.LengthPrefix(OnnxFields.ValueInfoType, type);
        pw.LengthPrefix(OnnxFields.TypeTensorType, tensorType);
        pw.VarintField(OnnxFields.TensorTypeElemType, (ulong)w.DataType);
        pw.LengthPrefix(OnnxFields.TensorTypeShape, shape);
        foreach (long d in w.Dims)
        {
            pw.LengthPrefix(OnnxFields.ShapeDim, ProtoWriter.VarintFieldSize(OnnxFields.DimValue, (ulong)d));
            pw.VarintField(OnnxFields.DimValue, (ulong)d);
        }
        return bytes;
    }

    /// <summary>One part of the new GraphProto payload.</summary>
    private abstract class Piece
    {
        public abstract long Size { get; }
        public abstract void Write(ref ProtoWriter w, ReadOnlySpan<byte> model);
    }

    /// <summary>Bytes copied unchanged from the source model.</summary>
    private sealed class Copy(int start, int length) : Piece
    {
        public override long Size => length;
        public override void Write(ref ProtoWriter w, ReadOnlySpan<byte> model) => w.Raw(model.Slice(start, length));
    }

    /// <summary>An already-encoded field.</summary>
    private sealed class Encoded(byte[] bytes) : Piece
    {
        public override long Size => bytes.Length;
        public override void Write(ref ProtoWriter w, ReadOnlySpan<byte> model) => w.Raw(bytes);
    }

    /// <summary>An initializer re-encoded: its non-data fields copied, then raw_data from <paramref name="data"/>.</summary>
    private sealed class NewTensor(InitializerField init, TensorBytes data) : Piece
    {
        private long Payload => init.KeptFields.Sum(f => (long)f.Length) + ProtoWriter.LengthDelimitedSize(OnnxFields.TensorRawData, data.Length);

        public override long Size => ProtoWriter.LengthDelimitedSize(OnnxFields.GraphInitializer, Payload);

        public override void Write(ref ProtoWriter w, ReadOnlySpan<byte> model)
        {
            w.LengthPrefix(OnnxFields.GraphInitializer, Payload);
            foreach ((int start, int length) in init.KeptFields) w.Raw(model.Slice(start, length));
            w.LengthPrefix(OnnxFields.TensorRawData, data.Length);
            data.CopyTo(w.Take(checked((int)data.Length)));
        }
    }

    /// <summary>Little-endian element bytes for raw_data.</summary>
    private abstract class TensorBytes
    {
        public abstract long Length { get; }
        public abstract void CopyTo(Span<byte> destination);
    }

    private sealed class WeightBytes(WeightSet weights, string name) : TensorBytes
    {
        public override long Length => weights.ShapeOf(name).Aggregate(1L, (a, d) => checked(a * d)) * sizeof(float);
        public override void CopyTo(Span<byte> destination) => MemoryMarshal.AsBytes(weights.Span(name)).CopyTo(destination);
    }

    private sealed class FileBytes(ExternalTensorData data) : TensorBytes
    {
        public override long Length => data.Length;

        public override void CopyTo(Span<byte> destination)
        {
            using var file = File.OpenHandle(data.FilePath, FileMode.Open, FileAccess.Read, FileShare.Read);
            data.ReadInto(destination, file);
        }
    }
}
