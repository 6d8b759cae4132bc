using EdgeTvq.Checkpoints.Storage;

namespace EdgeTvq.Checkpoints.Pytorch;

/// <summary>
/// Turns a (storage, offset, size, stride) view into a contiguous row-major tensor. Contiguous views point into
/// the storage bytes; strided views (transposes, slices, expands) are copied element by element.
/// </summary>
internal static class TorchTensorBuilder
{
    public static CheckpointTensor Build(string path, string name, TorchTensor t, ArrayStorage storage)
    {
        int rank = t.Size.Length;
        if (t.Stride.Length != rank)
            throw Fail(path, name, $"has {rank} dimensions but {t.Stride.Length} strides");
        if (t.Offset < 0)
            throw Fail(path, name, $"has storage offset {t.Offset}");
        long count = 1, lastIndex = t.Offset;
        try
        {
            for (int i = 0; i < rank; i++)
            {
                if (t.Size[i] < 0 || t.Stride[i] < 0)
                    throw Fail(path, name, $"has size {TensorDTypeInfo.FormatShape(t.Size)} and stride {TensorDTypeInfo.FormatShape(t.Stride)}; negative values are invalid");
                count = checked(count * t.Size[i]);
                if (t.Size[i] > 0) lastIndex = checked(lastIndex + (t.Size[i] - 1) * t.Stride[i]);
            }
        }
        catch (OverflowException)
        {
            throw Fail(path, name, $"size {TensorDTypeInfo.FormatShape(t.Size)} overflows a 64-bit element count");
        }

        TensorDType dtype = t.Storage.DType;
        int elementSize = dtype.ElementSize();
        if (count == 0)
            return new CheckpointTensor(path, name, dtype, t.Size, ArrayStorage.Empty, 0);
        if (lastIndex >= t.Storage.Numel)
            throw Fail(path, name,
                $"view (offset {t.Offset}, size {TensorDTypeInfo.FormatShape(t.Size)}, stride {TensorDTypeInfo.FormatShape(t.Stride)}) reaches element {lastIndex} of a {t.Storage.Numel}-element storage");

        if (IsContiguous(t.Size, t.Stride))
            return new CheckpointTensor(path, name, dtype, t.Size, storage, t.Offset * elementSize);

        if (count * elementSize > Array.MaxLength)
            throw Fail(path, name, $"is a strided view of {count} elements, too large to copy into one array");
        var dense = new byte[count * elementSize];
        ReadOnlySpan<byte> source = storage.GetSpan(0, checked((int)storage.Length));
        var index = new long[rank];
        long sourceElement = t.Offset;
        for (long i = 0; i < count; i++)
        {
            source.Slice((int)(sourceElement * elementSize), elementSize).CopyTo(dense.AsSpan((int)(i * elementSize), elementSize));
            // Odometer increment over the dimensions, innermost first.
            for (int d = rank - 1; d >= 0; d--)
            {
                index[d]++;
                sourceElement += t.Stride[d];
                if (index[d] < t.Size[d]) break;
                sourceElement -= index[d] * t.Stride[d];
                index[d] = 0;
            }
        }
        return new CheckpointTensor(path, name, dtype, t.Size, new ArrayStorage(dense), 0);
    }

    /// <summary>Row-major contiguity; dimensions of size 1 may have any stride.</summary>
    private static bool IsContiguous(long[] size, long[] stride)
    {
        long expected = 1;
        for (int d = size.Length - 1; d >= 0; d--)
        {
            if (size[d] != 1 && stride[d] != expected) return false;
            expected *= size[d];
        }
        return true;
    }

    private static CheckpointFormatException Fail(string path, string name, string detail) =>
        CheckpointFormatException.Create(path, name, $"{detail}. The checkpoint is corrupt; re-save it with torch.save(model.state_dict(), path).");
}
