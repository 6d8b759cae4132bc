namespace EdgeTvq.Checkpoints.Storage;

/// <summary>Bytes that tensors point into: a managed array or a memory-mapped file.</summary>
internal abstract class TensorStorage
{
    public abstract long Length { get; }

    /// <summary>A view of <paramref name="length"/> bytes at <paramref name="offset"/>; the caller has validated bounds.</summary>
    public abstract ReadOnlySpan<byte> GetSpan(long offset, int length);

    /// <summary>Copies bytes from <paramref name="offset"/> into <paramref name="destination"/>; the caller has validated bounds.</summary>
    public virtual void CopyTo(long offset, Span<byte> destination) => GetSpan(offset, destination.Length).CopyTo(destination);
}

internal sealed class ArrayStorage(byte[] data) : TensorStorage
{
    public static readonly ArrayStorage Empty = new([]);

    public override long Length => data.LongLength;

    public override ReadOnlySpan<byte> GetSpan(long offset, int length) => data.AsSpan(checked((int)offset), length);
}
