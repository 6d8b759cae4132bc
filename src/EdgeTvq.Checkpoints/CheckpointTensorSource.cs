using EdgeTvq.Bundle;

namespace EdgeTvq.Checkpoints;

/// <summary>Adapts a checkpoint (safetensors, PyTorch zip, ONNX initializers) to <see cref="ITensorSource"/>, for the packer and the runtime.</summary>
public sealed class CheckpointTensorSource : ITensorSource, IDisposable
{
    private readonly ICheckpoint _checkpoint;

    public CheckpointTensorSource(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
        _checkpoint = CheckpointReader.Open(path);
        Tensors = _checkpoint.Tensors.Select(t => new SourceTensor(t.Name, t.Shape, t.DType.ToString(), t.IsFloating)).ToList();
    }

    public string Path => _checkpoint.Path;
    public IReadOnlyList<SourceTensor> Tensors { get; }

    public void ReadFloat32(string name, Span<float> destination)
    {
        var t = _checkpoint.Find(name) ?? throw new InvalidDataException($"{System.IO.Path.GetFileName(Path)}: tensor '{name}' not found");
        t.ReadFloat32(destination);
    }

    public bool ReadsRanges => true;

    public void ReadFloat32(string name, long start, Span<float> destination)
    {
        var t = _checkpoint.Find(name) ?? throw new InvalidDataException($"{System.IO.Path.GetFileName(Path)}: tensor '{name}' not found");
        t.ReadFloat32(start, destination);
    }

    public void Dispose() => _checkpoint.Dispose();
}
