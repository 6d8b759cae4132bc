namespace EdgeTvq.Checkpoints;

/// <summary>An opened checkpoint. Tensors may be memory-mapped: read them before disposing.</summary>
public interface ICheckpoint : IDisposable
{
    /// <summary>The path the checkpoint was opened from.</summary>
    string Path { get; }

    /// <summary>"safetensors", "pytorch" or "onnx".</summary>
    string Format { get; }

    /// <summary>All tensors, in file order.</summary>
    IReadOnlyList<CheckpointTensor> Tensors { get; }

    /// <summary>The tensor with this exact name, or null.</summary>
    CheckpointTensor? Find(string name);
}

internal sealed class LoadedCheckpoint : ICheckpoint
{
    private readonly Dictionary<string, CheckpointTensor> _byName = new(StringComparer.Ordinal);
    private readonly IDisposable[] _owned;
    private bool _disposed;

    public LoadedCheckpoint(string path, string format, List<CheckpointTensor> tensors, params IDisposable[] owned)
    {
        Path = path;
        Format = format;
        Tensors = tensors.AsReadOnly();
        _owned = owned;
        foreach (CheckpointTensor t in tensors) _byName.TryAdd(t.Name, t);
    }

    public string Path { get; }
    public string Format { get; }
    public IReadOnlyList<CheckpointTensor> Tensors { get; }

    public CheckpointTensor? Find(string name) => _byName.GetValueOrDefault(name);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (IDisposable d in _owned) d.Dispose();
    }
}
