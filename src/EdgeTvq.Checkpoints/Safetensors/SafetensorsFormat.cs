namespace EdgeTvq.Checkpoints.Safetensors;

/// <summary>
/// safetensors layout:
/// <code>
/// [0, 8)        u64 little-endian N = header length in bytes
/// [8, 8+N)      UTF-8 JSON object: { "name": {"dtype": "F32", "shape": [d0, ...], "data_offsets": [begin, end]}, ...,
///                                    "__metadata__": {"key": "value", ...} }   (optional, string values only)
///               may be right-padded with spaces (writers pad so the data starts 8-byte aligned)
/// [8+N, EOF)    data buffer; offsets are relative to its start, end exclusive; tensors are
///               row-major little-endian and together cover the buffer exactly (no gaps, no overlap).
/// </code>
/// </summary>
internal static class SafetensorsFormat
{
    public const int LengthPrefixBytes = 8;
    public const int HeaderAlignment = 8;
    public const long MaxHeaderBytes = 100L * 1024 * 1024;
    public const string MetadataKey = "__metadata__";

    public static string DTypeName(TensorDType dtype) => dtype switch
    {
        TensorDType.F32 => "F32",
        TensorDType.F16 => "F16",
        TensorDType.BF16 => "BF16",
        TensorDType.F64 => "F64",
        TensorDType.I64 => "I64",
        TensorDType.I32 => "I32",
        TensorDType.I16 => "I16",
        TensorDType.I8 => "I8",
        TensorDType.U8 => "U8",
        TensorDType.Bool => "BOOL",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    public static bool TryParseDType(string name, out TensorDType dtype)
    {
        switch (name)
        {
            case "F32": dtype = TensorDType.F32; return true;
            case "F16": dtype = TensorDType.F16; return true;
            case "BF16": dtype = TensorDType.BF16; return true;
            case "F64": dtype = TensorDType.F64; return true;
            case "I64": dtype = TensorDType.I64; return true;
            case "I32": dtype = TensorDType.I32; return true;
            case "I16": dtype = TensorDType.I16; return true;
            case "I8": dtype = TensorDType.I8; return true;
            case "U8": dtype = TensorDType.U8; return true;
            case "BOOL": dtype = TensorDType.Bool; return true;
            default: dtype = default; return false;
        }
    }

    public const string SupportedDTypes = "F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL";
}
