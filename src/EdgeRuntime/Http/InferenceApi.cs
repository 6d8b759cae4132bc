using System.Buffers;
using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Text;
using System.Text.Json;
using EdgeTvq.Runtime.Input;
using EdgeTvq.Runtime.Tasks;

namespace EdgeTvq.Runtime.Http;

/// <summary>One output a request asked for, and whether it comes back as binary data.</summary>
public sealed record OutputSpec(string Name, bool Binary);

/// <summary>An inference request, checked against its task: preprocessed inputs [n, 1, size, size] and the outputs wanted.</summary>
public sealed record InferCall(string? Id, float[] Inputs, int Count, IReadOnlyList<OutputSpec> Outputs, int TopK);

/// <summary>
/// The infer endpoint's wire formats: the Open Inference Protocol JSON request (tensor data inline, or after the JSON
/// with the binary tensor data extension), a raw PNG/JPEG body, and the response with the task's outputs.
/// Everything a client can get wrong is an <see cref="ApiException"/> 400 naming the field.
/// </summary>
public static class InferenceApi
{
    public const string Logits = "logits", Probabilities = "probabilities", TopIndex = "top_index", TopProbability = "top_probability", TopLabel = "top_label";
    public static readonly string[] OutputNames = [Logits, Probabilities, TopIndex, TopProbability, TopLabel];
    public const string HeaderLengthHeader = "Inference-Header-Content-Length";
    public const int DefaultTopK = 3;

    private static ApiException Bad(string message) => new(400, message);

    /// <summary>
    /// A JSON request; with <paramref name="headerLength"/> (the Inference-Header-Content-Length header) the JSON is the
    /// body's first bytes and the binary tensor data follows.
    /// </summary>
    public static InferCall ParseJson(byte[] body, long? headerLength, TaskInfo task, string inputName)
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
        int size = task.Preprocessing.Size;
        if (input.Shape is not [var n, 1, var rows, var cols] || rows != size || cols != size || n < 1)
            throw Bad($"input '{inputName}' has shape [{string.Join(",", input.Shape ?? [])}]; model '{task.Name}' takes [n,1,{size},{size}] with n ≥ 1");
        long values = n * size * (long)size; // n ≤ long.MaxValue / size² is implied by the next check
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
            if (n > int.MaxValue / 4 / size / size || bytes != values * 4)
                throw Bad($"input '{inputName}' declares binary_data_size {bytes}; shape [{n},1,{size},{size}] FP32 needs {(n > int.MaxValue / 4 / size / size ? "more than the body can hold" : values * 4 + " bytes")}");
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
                throw Bad($"input '{inputName}' has shape [{n},1,{size},{size}] ({(n > jsonLength / 2 ? "too many" : values.ToString())} values), more than a {jsonLength}-byte request can hold");
            data = new float[values];
            int count = 0;
            Flatten(array, data, ref count, inputName);
            if (count != values)
                throw Bad($"input '{inputName}' has {count} values in \"data\"; shape [{n},1,{size},{size}] needs {values}");
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
        if (request.Outputs is { Count: > 0 } wanted)
        {
            foreach (var o in wanted)
            {
                if (o?.Name is not { } name || !OutputNames.Contains(name))
                    throw Bad($"unknown output '{ModelRouter.Trim(o?.Name ?? "(none)")}'; the outputs are {string.Join(", ", OutputNames)}");
                if (outputs.Any(x => x.Name == name)) throw Bad($"output '{name}' is requested twice");
                bool b = wantBinary;
                if (o.Parameters is { } op && op.TryGetValue("binary_data", out var bd)) b = Bool(bd, $"output '{name}': parameter binary_data");
                outputs.Add(new OutputSpec(name, b));
            }
        }
        else outputs.AddRange(OutputNames.Select(name => new OutputSpec(name, wantBinary)));
        return new InferCall(request.Id, data, (int)n, outputs, topK);
    }

    /// <summary>A PNG or JPEG body, decoded and preprocessed exactly as <c>edgetvq run</c> does a file.</summary>
    public static InferCall ParseImage(byte[] body, TaskInfo task, string source)
    {
        InputImage image;
        try { image = ImageFiles.Decode(source, body, task.Preprocessing.Size); }
        catch (InvalidDataException e) { throw Bad($"broken image: {e.Message}"); }
        var data = new float[image.Pixels.Length];
        task.Preprocessing.Apply(image.Pixels, data);
        return new InferCall(null, data, 1, OutputNames.Select(name => new OutputSpec(name, false)).ToList(), DefaultTopK);
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

    /// <summary>The response body: JSON, or JSON followed by the binary outputs (then <paramref name="headerLength"/> is set).</summary>
    public static byte[] Respond(string model, InferCall call, float[] logits, int classes, IReadOnlyList<string>? labels,
        string recipe, string generation, out int? headerLength)
    {
        int n = call.Count, k = Math.Min(call.TopK, classes);
        var probabilities = new float[logits.Length];
        var topIndex = new long[n * k];
        var topProbability = new float[n * k];
        var topLabel = new string[n * k];
        for (int i = 0; i < n; i++)
        {
            var row = logits.AsSpan(i * classes, classes);
            TensorPrimitives.SoftMax(row, probabilities.AsSpan(i * classes, classes));
            var top = Prediction.TopK(row, k, labels);
            for (int j = 0; j < k; j++)
                (topIndex[i * k + j], topProbability[i * k + j], topLabel[i * k + j]) = (top[j].Index, top[j].Probability, top[j].Label);
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
            w.WriteEndObject();
            w.WriteStartArray("outputs");
            foreach (var o in call.Outputs)
            {
                w.WriteStartObject();
                w.WriteString("name", o.Name);
                var (datatype, columns) = o.Name switch
                {
                    Logits or Probabilities => ("FP32", classes),
                    TopIndex => ("INT64", k),
                    TopProbability => ("FP32", k),
                    _ => ("BYTES", k),
                };
                w.WriteString("datatype", datatype);
                w.WriteStartArray("shape");
                w.WriteNumberValue(n);
                w.WriteNumberValue(columns);
                w.WriteEndArray();
                if (o.Binary)
                {
                    int before = binary.WrittenCount;
                    switch (o.Name)
                    {
                        case Logits: WriteFloats(binary, logits); break;
                        case Probabilities: WriteFloats(binary, probabilities); break;
                        case TopIndex:
                            foreach (var v in topIndex) { BinaryPrimitives.WriteInt64LittleEndian(binary.GetSpan(8), v); binary.Advance(8); }
                            break;
                        case TopProbability: WriteFloats(binary, topProbability); break;
                        default: WriteStrings(binary, topLabel); break;
                    }
                    w.WriteStartObject("parameters");
                    w.WriteNumber("binary_data_size", binary.WrittenCount - before);
                    w.WriteEndObject();
                }
                else
                {
                    w.WriteStartArray("data");
                    switch (o.Name)
                    {
                        case Logits: foreach (var v in logits) w.WriteNumberValue(v); break;
                        case Probabilities: foreach (var v in probabilities) w.WriteNumberValue(v); break;
                        case TopIndex: foreach (var v in topIndex) w.WriteNumberValue(v); break;
                        case TopProbability: foreach (var v in topProbability) w.WriteNumberValue(v); break;
                        default: foreach (var v in topLabel) w.WriteStringValue(v); break;
                    }
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
