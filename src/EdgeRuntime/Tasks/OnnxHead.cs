using EdgeTvq.Runtime.Inference;
using Microsoft.ML.OnnxRuntime;

namespace EdgeTvq.Runtime.Tasks;

/// <summary>A float32 tensor: its values, row-major, and its shape.</summary>
public readonly record struct FloatTensor(float[] Data, long[] Shape)
{
    public long Count => Shape.Aggregate(1L, (a, d) => a * d);
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}

/// <summary>
/// What turns the encoder's output into the task's output: a linear head stored as tensors (<see cref="LinearHead"/>)
/// or a graph stored as the task's <c>head.onnx</c> blob (<see cref="OnnxHead"/>).
/// </summary>
public interface ITaskHead
{
    /// <summary>The head's output for a batch of encoder outputs (first dimension: the batch).</summary>
    FloatTensor Run(FloatTensor encoderOutput);

    /// <summary>"linear" or "onnx".</summary>
    string Type { get; }

    /// <summary>Output channels (classes for classification) when the head fixes them; null when they follow the input.</summary>
    int? OutputChannels { get; }
}

/// <summary>
/// A task's head as an ONNX graph with its weights inside (format version 2, blob <c>head.onnx</c>): one input, fed
/// the encoder's output as it is, and its first output taken as the task's output. One ONNX Runtime session per head,
/// built once and shared by every live model that serves the task (<see cref="HeadCache"/>); runs may overlap.
/// </summary>
public sealed class OnnxHead : ITaskHead, IDisposable
{
    private readonly InferenceSession _session;
    private readonly SessionOptions _options;
    private readonly RunOptions _run = new();
    private readonly string _input, _output, _task;

    public string Type => "onnx";
    public int? OutputChannels { get; }

    public OnnxHead(string task, byte[] model, int intraOpThreads)
    {
        _task = task;
        _options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        if (intraOpThreads > 0) _options.IntraOpNumThreads = intraOpThreads;
        try
        {
            _session = new InferenceSession(model, _options);
        }
        catch (OnnxRuntimeException e)
        {
            _options.Dispose();
            throw new InvalidDataException($"task '{task}': its head.onnx does not load in ONNX Runtime ({e.Message}); export the head again (torch.onnx.export, opset 13+) and re-pack the task", e);
        }
        if (_session.InputNames.Count != 1 || _session.OutputNames.Count < 1)
        {
            var inputs = string.Join(", ", _session.InputNames);
            Dispose();
            throw new InvalidDataException($"task '{task}': its head.onnx must have exactly one input (the encoder's output) and an output; it has inputs [{inputs}]");
        }
        _input = _session.InputNames[0];
        _output = _session.OutputNames[0];
        var meta = _session.OutputMetadata[_output];
        if (!meta.IsTensor || meta.ElementType != typeof(float))
        {
            Dispose();
            throw new InvalidDataException($"task '{task}': its head.onnx output '{_output}' is not a float32 tensor");
        }
        OutputChannels = meta.Dimensions is { Length: >= 2 } d && d[1] > 0 ? d[1] : null;
    }

    public FloatTensor Run(FloatTensor encoderOutput)
    {
        using var input = OrtValue.CreateTensorValueFromMemory(encoderOutput.Data, encoderOutput.Shape);
        try
        {
            using var outputs = _session.Run(_run, [_input], [input], [_output]);
            var value = outputs[0];
            var shape = value.GetTensorTypeAndShape().Shape;
            return new FloatTensor(value.GetTensorDataAsSpan<float>().ToArray(), shape);
        }
        catch (OnnxRuntimeException e)
        {
            throw new OnnxModelException($"head.onnx of task '{_task}'", null,
                $"refused the encoder's output of shape {encoderOutput.ShapeText}: {e.Message}. The head's input must match the encoder's output");
        }
    }

    public void Dispose()
    {
        _session?.Dispose();
        _options.Dispose();
        _run.Dispose();
    }
}

/// <summary>
/// The ONNX heads a host has built, by task and the blob's SHA-256, so a switch between recipes builds no head
/// session: every live model serving a task shares its head. The cache lives as long as its host.
/// </summary>
public sealed class HeadCache : IDisposable
{
    private readonly Dictionary<string, OnnxHead> _heads = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly int _intraOpThreads;

    public HeadCache(int intraOpThreads) => _intraOpThreads = intraOpThreads;

    public OnnxHead Get(string task, byte[] model)
    {
        string key = task + "/" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(model));
        lock (_lock)
        {
            if (_heads.TryGetValue(key, out var head)) return head;
            head = new OnnxHead(task, model, _intraOpThreads);
            _heads[key] = head;
            return head;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var h in _heads.Values) h.Dispose();
            _heads.Clear();
        }
    }
}
