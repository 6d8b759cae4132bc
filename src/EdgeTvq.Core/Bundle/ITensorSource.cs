namespace EdgeTvq.Bundle;

/// <summary>One tensor a source offers: name, shape, stored dtype, and whether it is floating point.</summary>
public sealed record SourceTensor(string Name, long[] Shape, string Dtype, bool IsFloating)
{
    public long ElementCount => Shape.Aggregate(1L, (a, d) => checked(a * d));
}

/// <summary>
/// A checkpoint as the packer sees it: a named set of tensors readable as float32. The Packer adapts its
/// checkpoint readers (safetensors, PyTorch zip, ONNX) to this; benchmarks use synthetic sources.
/// </summary>
public interface ITensorSource
{
    /// <summary>File the tensors come from, used in error messages.</summary>
    string Path { get; }
    IReadOnlyList<SourceTensor> Tensors { get; }
    /// <summary>Reads tensor <paramref name="name"/> converted to float32; <paramref name="destination"/> has its element count.</summary>
    void ReadFloat32(string name, Span<float> destination);

    /// <summary>
    /// Whether <see cref="ReadFloat32(string, long, Span{float})"/> reads part of a tensor, safely from several threads
    /// at once (a merge then reads θ_pre block by block, each block on the thread that adds the task vectors to it).
    /// </summary>
    bool ReadsRanges => false;

    /// <summary>Elements [<paramref name="start"/>, start + destination.Length) of tensor <paramref name="name"/> as float32; see <see cref="ReadsRanges"/>.</summary>
    void ReadFloat32(string name, long start, Span<float> destination) => throw new NotSupportedException($"{Path}: this source reads whole tensors only");
}
