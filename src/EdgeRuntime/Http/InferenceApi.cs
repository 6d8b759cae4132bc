using System.Buffers;
using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Text;
using System.Text.Json;
using EdgeTvq.Bundle;
using EdgeTvq.Runtime.Input;
using EdgeTvq.Runtime.Serving;
using EdgeTvq.Runtime.Tasks;

namespace EdgeTvq.Runtime.Http;

/// <summary>One output a request asked for, and whether it comes back as binary data.</summary>
public sealed record OutputSpec(string Name, bool Binary);

/// <summary>
/// An inference request, checked against its task: preprocessed inputs of <see cref="Shape"/> [n, C, H, W], the
/// outputs wanted, and the size dense maps are returned at (the image's, for an image body; H×W for tensors).
/// </summary>
public sealed record InferCall(string? Id, float[] Inputs, long[] Shape, IReadOnlyList<OutputSpec> Outputs, int TopK, int OutputHeight, int OutputWidth)
{
    public int Count => (int)Shape[0];
}

/// <summary>
/// The infer endpoint's wire formats: the Open Inference Protocol JSON request (tensor data inline, or after the JSON
/// with the binary tensor data extension), a raw PNG/JPEG body, and the response with the task's outputs.
/// Everything a client can get wrong is an <see cref="ApiException"/> 400 naming the field.
/// </summary>
public static class InferenceApi
{
    public const string Logits = "logits", Probabilities = "probabilities", TopIndex = "top_index", TopProbability = "top_probability", TopLabel = "top_label";
    public const string Segmentation = "segmentation", Depth = "depth", Normals = "normals", Output = "output";
    public static readonly string[] OutputNames = [Logits, Probabilities, TopIndex, TopProbability, TopLabel];

    /// <summary>The outputs a task of <paramref name="kind"/> answers with.</summary>
    public static string[] OutputNamesFor(TaskKind kind) => kind switch
    {
        TaskKind.Classification => OutputNames,
        TaskKind.Segmentation => [Segmentation],
        TaskKind.Depth => [Depth],
        TaskKind.Normals => [Normals],
        _ => [Output],
    };

    /// <summary>
    /// The input shape a task takes, [n, C, H, W] with −1 where any size goes: the encoder's declared dimensions where
    /// it fixes them, else the task's preprocessing (channels, and the crop or exact resize).
    /// </summary>
    public static long[] InputShapeFor(TaskInfo task, long[] encoderInput)
    {
        long Dim(int d, long fromSpec) => encoderInput.Length == 4 && encoderInput[d] > 0 ? encoderInput[d] : fromSpec;
        var size = task.Preprocessing.FixedSize;
        return [-1, Dim(1, task.Preprocessing.ChannelCount), Dim(2, size?.H ?? -1), Dim(3, size?.W ?? -1)];
    }
    public const string HeaderLengthHeader = "Inference-Header-Content-Length";
    public const int DefaultTopK = 3;

    private static ApiException Bad(string message) => new(400, message);

    /// <summary>
    /// A JSON request; with <paramref name="headerLength"/> (the Inference-Header-Content-Length header) the JSON is the
    /// body's first bytes and the binary tensor data follows.
    /// </summary>
    public static InferCall ParseJson(byte[] body, long? headerLength, TaskInfo task, string inputName, long[] encoderInput)
    {
        int jsonLength = body.Length;
        if (headerLength is { } h)
        {
            if (h <= 0 || h > body.Length)
                throw Bad($"{HeaderLengthHeader} is {h}, but the body has {body.Length} bytes: it must be the length of the JSON part (1 to {body.Length})");
            jsonLength = (int)h;
        }
        InferRequestJson request;
        try
        {
            request = JsonSerializer.Deserialize(body.AsSpan(0, jsonLength), OipJsonContext.Default.InferRequestJson)
                      ?? throw Bad("the request body is JSON null; it must be an inference request object with \"inputs\"");
        }
        catch (JsonException e)
        {
            throw Bad($"malformed JSON request: {e.Message}");
        }
        var binary = body.AsMemory(jsonLength);

        if (request.Inputs is not { Count: > 0 } inputs) throw Bad("the request has no \"inputs\": give one FP32 tensor named '" + inputName + "'");
        if (inputs.Count != 1)
            throw Bad($"the request has {inputs.Count} inputs; the model takes exactly one, '{inputName}'");
        var input = inputs[0] ?? throw Bad("inputs[0] is null");
        if (input.Name != inputName)
            throw Bad($"inputs[0] is named '{ModelRouter.Trim(input.Name ?? "(none)")}'; the model's input is '{inputName}'");
        if (input.Datatype != "FP32")
            throw Bad($"input '{inputName}' has datatype {ModelRouter.Trim(input.Datatype ?? "(none)")}; the model takes FP32");
        var want = InputShapeFor(task, encoderInput);
        string wanted = "[n," + string.Join(",", want[1..].Select(d => d < 0 ? "any" : d.ToString())) + "]";
        if (input.Shape is not [var n, var channels, var rows, var cols] || n < 1 || channels < 1 || rows < 1 || cols < 1
            || (want[1] > 0 && channels != want[1]) || (want[2] > 0 && rows != want[2]) || (want[3] > 0 && cols != want[3]))
            throw Bad($"input '{inputName}' has shape [{string.Join(",", input.Shape ?? [])}]; model '{task.Name}' takes {wanted} with n ≥ 1");
        if (channels > 4096 || rows > 1 << 16 || cols > 1 << 16)
            throw Bad($"input '{inputName}' has shape [{n},{channels},{rows},{cols}]; dimensions are limited to 4096 channels and 65536 pixels");
        long per = channels * rows * cols;
        long values = n > long.MaxValue / per ? long.MaxValue : n * per; // saturated: the size checks below refuse it
        string shapeText = $"[{n},{channels},{rows},{cols}]";
        long? binarySize = null;
        if (input.Parameters is { } p && p.TryGetValue("binary_data_size", out var bds))
            binarySize = bds.ValueKind == JsonValueKind.Number && bds.TryGetInt64(out var v) && v >= 0 ? v
                : throw Bad($"input '{inputName}': parameter binary_data_size must be a non-negative integer, got {ModelRouter.Trim(bds.GetRawText())}");
        float[] data;
        if (binarySize is { } bytes)
        {
            if (input.Data is { ValueKind: not JsonValueKind.Null })
                throw Bad($"input '{inputName}' has both \"data\" and binary_data_size; send the tensor one way");
            if (headerLength is null)
                throw Bad($"input '{inputName}' declares binary_data_size {bytes} but the request has no {HeaderLengthHeader} header");
            if (bytes != binary.Length)
                throw Bad($"input '{inputName}' declares binary_data_size {bytes}, but {binary.Length} bytes follow the JSON header");
            if (values > int.MaxValue / 4 || bytes != values * 4)
                throw Bad($"input '{inputName}' declares binary_data_size {bytes}; shape {shapeText} FP32 needs {(values > int.MaxValue / 4 ? "more than the body can hold" : values * 4 + " bytes")}");
            data = new float[values];
            var span = binary.Span;
            for (int i = 0; i < data.Length; i++) data[i] = BinaryPrimitives.ReadSingleLittleEndian(span.Slice(i * 4, 4));
        }
        else
        {
            if (binary.Length > 0) throw Bad($"{binary.Length} bytes follow the JSON header but no input declares binary_data_size");
            if (input.Data is not { ValueKind: JsonValueKind.Array } array)
                throw Bad($"input '{inputName}' has no \"data\" array (and no binary_data_size parameter)");
            // Every JSON number takes at least two bytes with its separator: a shape that needs more values than the
            // body could hold is refused before anything is allocated.
            if (n > jsonLength / 2 || values > jsonLength / 2)
                throw Bad($"input '{inputName}' has shape {shapeText} ({(n > jsonLength / 2 ? "too many" : values.ToString())} values), more than a {jsonLength}-byte request can hold");
            data = new float[values];
            int count = 0;
            Flatten(array, data, ref count, inputName);
            if (count != values)
                throw Bad($"input '{inputName}' has {count} values in \"data\"; shape {shapeText} needs {values}");
        }

        var wantBinary = false;
        int topK = DefaultTopK;
        if (request.Parameters is { } rp)
        {
            if (rp.TryGetValue("binary_data_output", out var bdo)) wantBinary = Bool(bdo, "request parameter binary_data_output");
            if (rp.TryGetValue("top_k", out var tk))
                topK = tk.ValueKind == JsonValueKind.Number && tk.TryGetInt32(out var k) && k >= 1 ? k
                    : throw Bad($"request parameter top_k must be an integer ≥ 1, got {ModelRouter.Trim(tk.GetRawText())}");
        }
        var outputs = new List<OutputSpec>();
        var names = OutputNamesFor(task.Kind);
        if (request.Outputs is { Count: > 0 } asked)
        {
            foreach (var o in asked)
            {
                if (o?.Name is not { } name || !names.Contains(name))
                    throw Bad($"unknown output '{ModelRouter.Trim(o?.Name ?? "(none)")}'; model '{task.Name}' ({TaskKinds.Name(task.Kind)}) has the outputs {string.Join(", ", names)}");
                if (outputs.Any(x => x.Name == name)) throw Bad($"output '{name}' is requested twice");
                bool b = wantBinary;
                if (o.Parameters is { } op && op.TryGetValue("binary_data", out var bd)) b = Bool(bd, $"output '{name}': parameter binary_data");
                outputs.Add(new OutputSpec(name, b));
            }
        }
        else outputs.AddRange(names.Select(name => new OutputSpec(name, wantBinary)));
        return new InferCall(request.Id, data, [n, channels, rows, cols], outputs, topK, (int)rows, (int)cols);
    }

    /// <summary>A PNG or JPEG body, decoded and preprocessed exactly as <c>edgetvq run</c> does a file.</summary>
    public static InferCall ParseImage(byte[] body, TaskInfo task, string source, long[] encoderInput)
    {
        PreparedImage prepared;
        try
        {
            var image = ImageFiles.Decode(source, body);
            prepared = Preprocessor.Apply(task.Preprocessing, image, encoderInput is [_, > 0 and var c, ..] ? (int)c : null);
        }
        catch (InvalidDataException e) { throw Bad($"broken image: {e.Message}"); }
        return new InferCall(null, prepared.Data, [1, prepared.Channels, prepared.Height, prepared.Width],
            OutputNamesFor(task.Kind).Select(name => new OutputSpec(name, false)).ToList(), DefaultTopK, prepared.OutputHeight, prepared.OutputWidth);
    }

    private static bool Bool(JsonElement e, string what) => e.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => throw Bad($"{what} must be true or false, got {ModelRouter.Trim(e.GetRawText())}"),
    };

    /// <summary>The numbers of a (possibly nested, row-major) JSON array, in order.</summary>
    private static void Flatten(JsonElement array, float[] into, ref int count, string input)
    {
        foreach (var e in array.EnumerateArray())
        {
            if (e.ValueKind == JsonValueKind.Array) { Flatten(e, into, ref count, input); continue; }
            if (e.ValueKind != JsonValueKind.Number)
                throw Bad($"input '{input}': data[{count}] is {e.ValueKind.ToString().ToLowerInvariant()} {ModelRouter.Trim(e.GetRawText())}; FP32 data must be numbers");
            if (!e.TryGetSingle(out var f) || !float.IsFinite(f))
                throw Bad($"input '{input}': data[{count}] = {ModelRouter.Trim(e.GetRawText())} is not a finite FP32 number");
            if (count >= into.Length) { count++; continue; } // counted, reported by the caller
            into[count++] = f;
        }
    }

    /// <summary>One output tensor of a response: its name, datatype, shape and values (exactly one array set).</summary>
    private sealed record Answer(string Name, string Datatype, long[] Shape, float[]? Floats = null, long[]? Longs = null, int[]? Ints = null, string[]? Strings = null);

    /// <summary>
    /// The response body for the head's <paramref name="output"/>: JSON, or JSON followed by the binary outputs (then
    /// <paramref name="headerLength"/> is set). Classification answers logits, probabilities and the top-k; dense kinds
    /// their map at the call's output size; tensor the head's output.
    /// </summary>
    public static byte[] Respond(string model, InferCall call, TaskView view, FloatTensor output, string recipe, string generation, out int? headerLength)
    {
        int n = call.Count;
        var answers = new Dictionary<string, Answer>();
        if (view.Kind == TaskKind.Classification)
        {
            var logits = output.Data;
            if (output.Shape.Length < 2 || output.Shape[0] != n || output.Count != n * output.Shape[1])
                throw new InvalidDataException($"task '{view.Name}' is a classification task, so its head must output [n, classes]; it gave {output.ShapeText}");
            int classes = (int)output.Shape[1], k = Math.Min(call.TopK, classes);
            var probabilities = new float[logits.Length];
            var topIndex = new long[n * k];
            var topProbability = new float[n * k];
            var topLabel = new string[n * k];
            for (int i = 0; i < n; i++)
            {
                var row = logits.AsSpan(i * classes, classes);
                TensorPrimitives.SoftMax(row, probabilities.AsSpan(i * classes, classes));
                var top = Prediction.TopK(row, k, view.Labels);
                for (int j = 0; j < k; j++)
                    (topIndex[i * k + j], topProbability[i * k + j], topLabel[i * k + j]) = (top[j].Index, top[j].Probability, top[j].Label);
            }
            answers[Logits] = new Answer(Logits, "FP32", [n, classes], Floats: logits);
            answers[Probabilities] = new Answer(Probabilities, "FP32", [n, classes], Floats: probabilities);
            answers[TopIndex] = new Answer(TopIndex, "INT64", [n, k], Longs: topIndex);
            answers[TopProbability] = new Answer(TopProbability, "FP32", [n, k], Floats: topProbability);
            answers[TopLabel] = new Answer(TopLabel, "BYTES", [n, k], Strings: topLabel);
        }
        else if (view.Kind == TaskKind.Tensor)
        {
            answers[Output] = new Answer(Output, "FP32", output.Shape, Floats: output.Data);
        }
        else
        {
            int h = call.OutputHeight, w = call.OutputWidth;
            var results = Enumerable.Range(0, n).Select(i => TaskRunner.Finish(view, output, i, "", null, h, w, 1)).ToList();
            if (view.Kind == TaskKind.Segmentation)
                answers[Segmentation] = new Answer(Segmentation, "INT32", [n, h, w], Ints: results.SelectMany(r => r.Map!.Classes!).ToArray());
            else if (view.Kind == TaskKind.Depth)
                answers[Depth] = new Answer(Depth, "FP32", [n, h, w], Floats: results.SelectMany(r => r.Map!.Values!).ToArray());
            else
                answers[Normals] = new Answer(Normals, "FP32", [n, 3, h, w], Floats: results.SelectMany(r => r.Map!.Values!).ToArray());
        }

        var binary = new ArrayBufferWriter<byte>();
        var json = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(json))
        {
            w.WriteStartObject();
            w.WriteString("model_name", model);
            w.WriteString("model_version", generation);
            if (call.Id is not null) w.WriteString("id", call.Id);
            w.WriteStartObject("parameters");
            w.WriteString("recipe", recipe);
            w.WriteString("bundle_generation", generation);
            w.WriteString("kind", TaskKinds.Name(view.Kind));
            w.WriteEndObject();
            w.WriteStartArray("outputs");
            foreach (var o in call.Outputs)
            {
                var a = answers[o.Name];
                w.WriteStartObject();
                w.WriteString("name", o.Name);
                w.WriteString("datatype", a.Datatype);
                w.WriteStartArray("shape");
                foreach (var d in a.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                if (o.Binary)
                {
                    int before = binary.WrittenCount;
                    if (a.Floats is { } f) WriteFloats(binary, f);
                    else if (a.Longs is { } l) foreach (var v in l) { BinaryPrimitives.WriteInt64LittleEndian(binary.GetSpan(8), v); binary.Advance(8); }
                    else if (a.Ints is { } ints) foreach (var v in ints) { BinaryPrimitives.WriteInt32LittleEndian(binary.GetSpan(4), v); binary.Advance(4); }
                    else WriteStrings(binary, a.Strings!);
                    w.WriteStartObject("parameters");
                    w.WriteNumber("binary_data_size", binary.WrittenCount - before);
                    w.WriteEndObject();
                }
                else
                {
                    w.WriteStartArray("data");
                    if (a.Floats is { } f) foreach (var v in f) w.WriteNumberValue(v);
                    else if (a.Longs is { } l) foreach (var v in l) w.WriteNumberValue(v);
                    else if (a.Ints is { } ints) foreach (var v in ints) w.WriteNumberValue(v);
                    else foreach (var v in a.Strings!) w.WriteStringValue(v);
                    w.WriteEndArray();
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        if (!call.Outputs.Any(o => o.Binary))
        {
            headerLength = null;
            return json.WrittenSpan.ToArray();
        }
        headerLength = json.WrittenCount;
        var all = new byte[json.WrittenCount + binary.WrittenCount];
        json.WrittenSpan.CopyTo(all);
        binary.WrittenSpan.CopyTo(all.AsSpan(json.WrittenCount));
        return all;
    }

    private static void WriteFloats(ArrayBufferWriter<byte> to, float[] values)
    {
        var span = to.GetSpan(values.Length * 4);
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(span.Slice(i * 4, 4), values[i]);
        to.Advance(values.Length * 4);
    }

    /// <summary>BYTES elements: each a 4-byte little-endian length and the UTF-8 bytes.</summary>
    private static void WriteStrings(ArrayBufferWriter<byte> to, string[] values)
    {
        foreach (var s in values)
        {
            var bytes = Encoding.UTF8.GetBytes(s);
            var span = to.GetSpan(4 + bytes.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)bytes.Length);
            bytes.CopyTo(span[4..]);
            to.Advance(4 + bytes.Length);
        }
    }
}
