using EdgeTvq.Checkpoints.Numerics;
using EdgeTvq.Checkpoints.Storage;

namespace EdgeTvq.Checkpoints;

/// <summary>
/// One named tensor of a checkpoint: dtype, shape and a view of its little-endian element bytes
/// (row-major, contiguous). The bytes may live in a memory-mapped file owned by the checkpoint.
/// </summary>
public sealed class CheckpointTensor
{
    // Conversions run over slices of this many elements so that tensors larger than 2 GiB of raw bytes
    // (but at most int.MaxValue elements) can still be read into a float span.
    private const int ChunkElements = 1 << 20;

    private readonly long[] _shape;
    private readonly TensorStorage _storage;
    private readonly long _byteOffset;
    private readonly long _byteLength;
    private readonly string _filePath;

    internal CheckpointTensor(string filePath, string name, TensorDType dtype, long[] shape, TensorStorage storage, long byteOffset)
    {
        _filePath = filePath;
        Name = name;
        DType = dtype;
        _shape = shape;
        ElementCount = TensorDTypeInfo.CheckedElementCount(shape);
        _byteLength = checked(ElementCount * dtype.ElementSize());
        if (byteOffset < 0 || byteOffset > storage.Length - _byteLength)
            throw new ArgumentOutOfRangeException(nameof(byteOffset), "tensor bytes outside storage");
        _storage = storage;
        _byteOffset = byteOffset;
    }

    public string Name { get; }

    public TensorDType DType { get; }

    /// <summary>A copy of the dimensions; empty for scalars.</summary>
    public long[] Shape => (long[])_shape.Clone();

    public long ElementCount { get; }

    /// <summary>True for F32, F16, BF16 and F64.</summary>
    public bool IsFloating => DType.IsFloatingType();

    /// <summary>Number of bytes of <see cref="RawBytes"/>.</summary>
    internal long ByteLength => _byteLength;

    /// <summary>The element bytes as stored (little-endian, row-major). Valid while the checkpoint is open.</summary>
    public ReadOnlySpan<byte> RawBytes
    {
        get
        {
            if (_byteLength > int.MaxValue)
                throw new NotSupportedException($"{_filePath}: tensor '{Name}' holds {_byteLength} bytes, more than one span can address; use ReadFloat32.");
            return _storage.GetSpan(_byteOffset, (int)_byteLength);
        }
    }

    /// <summary>
    /// Widens (F16, BF16) or narrows (F64, round-to-nearest-even) every element to float32.
    /// <paramref name="destination"/> must hold exactly <see cref="ElementCount"/> values.
    /// </summary>
    public void ReadFloat32(Span<float> destination)
    {
        if (destination.Length != ElementCount)
            throw new ArgumentException($"tensor '{Name}' has {ElementCount} elements but the destination holds {destination.Length}.", nameof(destination));
        ReadFloat32(0, destination);
    }

    /// <summary>
    /// Elements [<paramref name="start"/>, start + destination.Length) as float32 (see <see cref="ReadFloat32(Span{float})"/>).
    /// Safe to call from several threads at once: float32 tensors are read with pread(2), others converted from the mapping.
    /// </summary>
    public void ReadFloat32(long start, Span<float> destination)
    {
        if (!IsFloating)
            throw CheckpointFormatException.Create(_filePath, Name,
                $"dtype is {DType}, expected a floating type (F32, F16, BF16 or F64) to read as float32. " +
                "Integer and bool tensors (e.g. counters, masks) are not weights; skip them.");
        if (start < 0 || start > ElementCount - destination.Length)
            throw new ArgumentOutOfRangeException(nameof(start), $"elements [{start}, {start + destination.Length}) are outside tensor '{Name}' of {ElementCount}");
        int size = DType.ElementSize();
        long from = _byteOffset + start * size;
        if (DType == TensorDType.F32 && BitConverter.IsLittleEndian)
        {
            _storage.CopyTo(from, System.Runtime.InteropServices.MemoryMarshal.AsBytes(destination)); // stored as is: one copy
            return;
        }
        for (int at = 0; at < destination.Length; at += ChunkElements)
        {
            int count = Math.Min(ChunkElements, destination.Length - at);
            ReadOnlySpan<byte> src = _storage.GetSpan(from + (long)at * size, count * size);
            HalfConversion.ToSingle(DType, src, destination.Slice(at, count));
        }
    }

    /// <summary>A new array with every element as float32 (see <see cref="ReadFloat32"/>).</summary>
    public float[] ToFloat32Array()
    {
        if (ElementCount > Array.MaxLength)
            throw new NotSupportedException($"{_filePath}: tensor '{Name}' has {ElementCount} elements, more than one array can hold.");
        var result = new float[ElementCount];
        ReadFloat32(result);
        return result;
    }

    /// <summary>
    /// Finds the first element that is Inf or NaN as float32 (so F64 values beyond the float32 range count).
    /// Returns false (index -1) when all are finite or the tensor is not floating.
    /// </summary>
    public static bool TryFindNonFinite(CheckpointTensor t, out long index)
    {
        ArgumentNullException.ThrowIfNull(t);
        index = -1;
        if (!t.IsFloating) return false;
        int size = t.DType.ElementSize();
        for (long start = 0; start < t.ElementCount; start += ChunkElements)
        {
            int count = (int)Math.Min(ChunkElements, t.ElementCount - start);
            int found = HalfConversion.IndexOfNonFinite(t.DType, t._storage.GetSpan(t._byteOffset + start * size, count * size));
            if (found >= 0)
            {
                index = start + found;
                return true;
            }
        }
        return false;
    }

    public override string ToString() => $"{Name} {DType} {TensorDTypeInfo.FormatShape(_shape)}";
}
