namespace EdgeTvq.Checkpoints;

/// <summary>Element types a checkpoint tensor can have. All are stored little-endian.</summary>
public enum TensorDType
{
    F32,
    F16,
    BF16,
    F64,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

internal static class TensorDTypeInfo
{
    /// <summary>Bytes per element (Bool is one byte, 0 or 1, as in PyTorch, safetensors and ONNX raw_data).</summary>
    public static int ElementSize(this TensorDType dtype) => dtype switch
    {
        TensorDType.F64 or TensorDType.I64 => 8,
        TensorDType.F32 or TensorDType.I32 => 4,
        TensorDType.F16 or TensorDType.BF16 or TensorDType.I16 => 2,
        TensorDType.I8 or TensorDType.U8 or TensorDType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    public static bool IsFloatingType(this TensorDType dtype) =>
        dtype is TensorDType.F32 or TensorDType.F16 or TensorDType.BF16 or TensorDType.F64;

    /// <summary>Product of the dimensions with overflow checking; throws OverflowException.</summary>
    public static long CheckedElementCount(ReadOnlySpan<long> shape)
    {
        long count = 1;
        foreach (long d in shape)
        {
            if (d < 0) throw new OverflowException("negative dimension");
            count = checked(count * d);
        }
        return count;
    }

    public static string FormatShape(ReadOnlySpan<long> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";
}
