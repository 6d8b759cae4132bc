namespace EdgeTvq.Checkpoints.Protobuf;

/// <summary>
/// The onnx.proto field numbers and enum values that EdgeTvq reads or writes (proto2 syntax), in one place for the
/// checkpoint reader (<c>Onnx/OnnxInitializerReader</c>) and the device runtime's model rewriter (which copies every
/// other field byte for byte).
/// <code>
/// ModelProto      { graph = 7 (GraphProto), opset_import = 8 (repeated OperatorSetIdProto) ... }
/// GraphProto      { initializer = 5 (repeated TensorProto), input = 11 (repeated ValueInfoProto),
///                   sparse_initializer = 15 (repeated SparseTensorProto) ... }
/// TensorProto     { dims = 1 (repeated int64), data_type = 2 (int32), segment = 3, float_data = 4, int32_data = 5,
///                   string_data = 6, int64_data = 7, name = 8 (string), raw_data = 9 (bytes), double_data = 10,
///                   uint64_data = 11, doc_string = 12, external_data = 13 (repeated StringStringEntryProto),
///                   data_location = 14 (enum: 0 DEFAULT, 1 EXTERNAL), metadata_props = 16 }
/// StringStringEntryProto { key = 1, value = 2 }
/// ValueInfoProto  { name = 1 (string), type = 2 (TypeProto) }
/// TypeProto       { tensor_type = 1 (TypeProto.Tensor) }
/// TypeProto.Tensor      { elem_type = 1 (int32, TensorProto.DataType), shape = 2 (TensorShapeProto) }
/// TensorShapeProto      { dim = 1 (repeated Dimension) }
/// TensorShapeProto.Dimension { dim_value = 1 (int64) }
/// </code>
/// </summary>
public static class OnnxFields
{
    // ModelProto.graph: GraphProto
    public const int ModelGraph = 7;
    // ModelProto.opset_import: repeated OperatorSetIdProto
    public const int ModelOpsetImport = 8;

    // GraphProto.initializer: repeated TensorProto
    public const int GraphInitializer = 5;
    // GraphProto.input: repeated ValueInfoProto
    public const int GraphInput = 11;
    // GraphProto.sparse_initializer: repeated SparseTensorProto
    public const int GraphSparseInitializer = 15;

    // TensorProto.dims: repeated int64
    public const int TensorDims = 1;
    // TensorProto.data_type: int32 (TensorProto.DataType)
    public const int TensorDataType = 2;
    // TensorProto.segment (a tensor split over several protos) / float_data (repeated float) / int32_data (repeated
    // int32: INT32/INT16/INT8/UINT8/BOOL values, FLOAT16/BFLOAT16 bit patterns) / string_data / int64_data: data
    // fields, dropped on re-encoding
    public const int TensorSegment = 3;
    public const int TensorFloatData = 4;
    public const int TensorInt32Data = 5;
    public const int TensorStringData = 6;
    public const int TensorInt64Data = 7;
    // TensorProto.name: string
    public const int TensorName = 8;
    // TensorProto.raw_data: bytes, little-endian elements
    public const int TensorRawData = 9;
    // TensorProto.double_data / uint64_data: data fields, dropped on re-encoding
    public const int TensorDoubleData = 10;
    public const int TensorUInt64Data = 11;
    // TensorProto.external_data: repeated StringStringEntryProto (location, offset, length, checksum)
    public const int TensorExternalData = 13;
    // TensorProto.data_location: 0 DEFAULT (data in this message), 1 EXTERNAL
    public const int TensorDataLocation = 14;
    public const int DataLocationExternal = 1;

    // StringStringEntryProto.key / .value: string
    public const int EntryKey = 1;
    public const int EntryValue = 2;

    // ValueInfoProto.name: string; ValueInfoProto.type: TypeProto
    public const int ValueInfoName = 1;
    public const int ValueInfoType = 2;
    // TypeProto.tensor_type: TypeProto.Tensor
    public const int TypeTensorType = 1;
    // TypeProto.Tensor.elem_type: int32; TypeProto.Tensor.shape: TensorShapeProto
    public const int TensorTypeElemType = 1;
    public const int TensorTypeShape = 2;
    // TensorShapeProto.dim: repeated Dimension
    public const int ShapeDim = 1;
    // TensorShapeProto.Dimension.dim_value: int64
    public const int DimValue = 1;

    // TensorProto.DataType.FLOAT
    public const int DataTypeFloat = 1;

    /// <summary>True for the TensorProto fields that hold or locate element data (replaced when a tensor is re-encoded).</summary>
    public static bool IsTensorDataField(int field) => field is TensorSegment or TensorFloatData or TensorInt32Data
        or TensorStringData or TensorInt64Data or TensorRawData or TensorDoubleData or TensorUInt64Data
        or TensorExternalData or TensorDataLocation;

    /// <summary>The TensorProto.DataType name of <paramref name="dataType"/> ("FLOAT", "FLOAT8E4M3FN"), or the number when unknown.</summary>
    public static string DataTypeName(long dataType) => dataType switch
    {
        0 => "UNDEFINED", 1 => "FLOAT", 2 => "UINT8", 3 => "INT8", 4 => "UINT16", 5 => "INT16", 6 => "INT32",
        7 => "INT64", 8 => "STRING", 9 => "BOOL", 10 => "FLOAT16", 11 => "DOUBLE", 12 => "UINT32", 13 => "UINT64",
        14 => "COMPLEX64", 15 => "COMPLEX128", 16 => "BFLOAT16", 17 => "FLOAT8E4M3FN", 18 => "FLOAT8E4M3FNUZ",
        19 => "FLOAT8E5M2", 20 => "FLOAT8E5M2FNUZ", 21 => "UINT4", 22 => "INT4",
        _ => dataType.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>Bytes per element of a TensorProto.DataType, or 0 where it has none (UNDEFINED, STRING, 4-bit types).</summary>
    public static int ElementSize(int dataType) => dataType switch
    {
        1 or 6 or 12 => 4,           // FLOAT, INT32, UINT32
        2 or 3 or 9 => 1,            // UINT8, INT8, BOOL
        4 or 5 or 10 or 16 => 2,     // UINT16, INT16, FLOAT16, BFLOAT16
        7 or 11 or 13 or 14 => 8,    // INT64, DOUBLE, UINT64, COMPLEX64
        15 => 16,                    // COMPLEX128
        >= 17 and <= 20 => 1,        // FLOAT8 variants
        _ => 0,
    };
}
