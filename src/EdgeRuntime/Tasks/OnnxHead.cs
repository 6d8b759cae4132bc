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
/// session: every live model serving a task shares its head. Live models hold the heads they serve
/// (<see cref="Acquire"/> / <see cref="Release"/>); a head no live model holds stays cached for the next switch back,
/// and beyond <see cref="MaxIdle"/> such heads the least recently used is closed, so field updates that replace heads
/// do not pile up sessions. A held head is never closed before its holders release it.
/// </summary>
public sealed class HeadCache : IDisposable
{
    /// <summary>Heads kept open with no live model holding them (a host's tasks usually fit).</summary>
    public const int DefaultMaxIdle = 16;

    private sealed class Entry(string key, OnnxHead head)
    {
        public string Key { get; } = key;
        public OnnxHead Head { get; } = head;
        public int Holders;
        public long LastUsed;
    }

    private readonly Dictionary<string, Entry> _byKey = new(StringComparer.Ordinal);
    private readonly Dictionary<OnnxHead, Entry> _byHead = new(ReferenceEqualityComparer.Instance);
    private readonly Lock _lock = new();
    private readonly int _intraOpThreads;
    private long _clock;
    private bool _disposed;

    public int MaxIdle { get; }

    public HeadCache(int intraOpThreads, int maxIdle = DefaultMaxIdle)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxIdle);
        (_intraOpThreads, MaxIdle) = (intraOpThreads, maxIdle);
    }

    /// <summary>Open heads, held or idle.</summary>
    public int Count { get { lock (_lock) return _byKey.Count; } }

    /// <summary>Open heads that no live model holds.</summary>
    public int IdleCount { get { lock (_lock) return _byKey.Values.Count(e => e.Holders == 0); } }

    /// <summary>The head of <paramref name="task"/> built from <paramref name="model"/>, held until <see cref="Release"/>.</summary>
    public OnnxHead Acquire(string task, byte[] model)
    {
        string key = task + "/" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(model));
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_byKey.TryGetValue(key, out var entry))
            {
                entry = new Entry(key, new OnnxHead(task, model, _intraOpThreads));
                _byKey[key] = entry;
                _byHead[entry.Head] = entry;
            }
            entry.Holders++;
            entry.LastUsed = ++_clock;
            return entry.Head;
        }
    }

    /// <summary>Gives back one hold on <paramref name="head"/>; idle heads beyond <see cref="MaxIdle"/> are closed, oldest first.</summary>
    public void Release(OnnxHead head)
    {
        lock (_lock)
        {
            if (_disposed) return; // the host closed every head already
            if (!_byHead.TryGetValue(head, out var entry) || entry.Holders == 0)
                throw new InvalidOperationException("HeadCache.Release: the head is not held (released twice?)");
            entry.Holders--;
            if (entry.Holders > 0) return;
            entry.LastUsed = ++_clock; // in use until now
            var idle = _byKey.Values.Where(e => e.Holders == 0).OrderBy(e => e.LastUsed).ToList();
            foreach (var old in idle.Take(Math.Max(0, idle.Count - MaxIdle)))
            {
                _byKey.Remove(old.Key);
                _byHead.Remove(old.Head);
                old.Head.Dispose();
            }
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var e in _byKey.Values) e.Head.Dispose();
            _byKey.Clear();
            _byHead.Clear();
        }
    }
}
