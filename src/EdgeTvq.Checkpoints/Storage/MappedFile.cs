using EdgeTvq.IO;

namespace EdgeTvq.Checkpoints.Storage;

/// <summary>A whole checkpoint file mapped read-only (<see cref="LocalFile.Map"/>). Spans handed out are valid until Dispose.</summary>
internal sealed class MappedFile : TensorStorage, IDisposable
{
    private readonly LocalFile.MappedBytes _bytes;

    private MappedFile(LocalFile.MappedBytes bytes) => _bytes = bytes;

    /// <summary>Maps <paramref name="path"/>, which must be a regular file.</summary>
    public static MappedFile Open(string path) => new(LocalFile.Map(path, long.MaxValue, "checkpoint file"));

    public override long Length => _bytes.Length;

    public override ReadOnlySpan<byte> GetSpan(long offset, int length) => _bytes.GetSpan(offset, length);

    /// <summary>pread(2), not the mapping: large float32 tensors land in their buffer without a fault per page.</summary>
    public override void CopyTo(long offset, Span<byte> destination) => _bytes.Read(offset, destination);

    public void Dispose() => _bytes.Dispose();
}
