namespace EdgeTvq.Checkpoints.Pytorch;

/// <summary>What a pickled global reference is implemented as. Anything not listed is <see cref="Foreign"/>.</summary>
internal enum GlobalKind
{
    /// <summary>Not on the allow-list: may be referenced as a value or used as an inert class, never called.</summary>
    Foreign,
    RebuildTensorV2,
    RebuildTensor,
    RebuildParameter,
    RebuildParameterWithState,
    RebuildFromTypeV2,
    OrderedDict,
    Dict,
    List,
    Set,
    FrozenSet,
    Tuple,
    Object,
    Reconstructor,
    TorchSize,
    StorageType,
    UntypedStorage,
    TorchDType,
    TorchDevice,
    CodecsEncode,
    /// <summary>Classes that only appear as type tags (torch.Tensor, nn.Parameter): referenced, never built.</summary>
    TensorType,
}

/// <summary>
/// The allow-list of globals a checkpoint pickle may use, each implemented natively (nothing is imported or run).
/// Protocol 2 pickles name Python 3 builtins by their Python 2 names (__builtin__, copy_reg), so both spellings are listed.
/// </summary>
internal static class PickleGlobals
{
    private static readonly Dictionary<string, (GlobalKind Kind, TensorDType DType)> Known = Build();

    public static PickleGlobal Resolve(string module, string name)
    {
        var (kind, dtype) = Known.TryGetValue(module + "." + name, out var k) ? k : (GlobalKind.Foreign, default);
        return new PickleGlobal(module, name, kind, dtype);
    }

    private static Dictionary<string, (GlobalKind, TensorDType)> Build()
    {
        var d = new Dictionary<string, (GlobalKind, TensorDType)>(StringComparer.Ordinal)
        {
            ["torch._utils._rebuild_tensor_v2"] = (GlobalKind.RebuildTensorV2, default),
            ["torch._utils._rebuild_tensor"] = (GlobalKind.RebuildTensor, default),
            ["torch._utils._rebuild_parameter"] = (GlobalKind.RebuildParameter, default),
            ["torch._utils._rebuild_parameter_with_state"] = (GlobalKind.RebuildParameterWithState, default),
            ["torch._tensor._rebuild_from_type_v2"] = (GlobalKind.RebuildFromTypeV2, default),
            ["collections.OrderedDict"] = (GlobalKind.OrderedDict, default),
            ["torch.Size"] = (GlobalKind.TorchSize, default),
            ["torch.device"] = (GlobalKind.TorchDevice, default),
            ["torch.storage.UntypedStorage"] = (GlobalKind.UntypedStorage, default),
            ["torch.UntypedStorage"] = (GlobalKind.UntypedStorage, default),
            ["torch.storage._UntypedStorage"] = (GlobalKind.UntypedStorage, default),
            ["torch.Tensor"] = (GlobalKind.TensorType, default),
            ["torch.nn.parameter.Parameter"] = (GlobalKind.TensorType, default),
            ["_codecs.encode"] = (GlobalKind.CodecsEncode, default),
        };
        foreach (string builtins in new[] { "builtins", "__builtin__" })
        {
            d[builtins + ".dict"] = (GlobalKind.Dict, default);
            d[builtins + ".list"] = (GlobalKind.List, default);
            d[builtins + ".set"] = (GlobalKind.Set, default);
            d[builtins + ".frozenset"] = (GlobalKind.FrozenSet, default);
            d[builtins + ".tuple"] = (GlobalKind.Tuple, default);
            d[builtins + ".object"] = (GlobalKind.Object, default);
        }
        d["copyreg._reconstructor"] = (GlobalKind.Reconstructor, default);
        d["copy_reg._reconstructor"] = (GlobalKind.Reconstructor, default);

        // Typed storage classes name the element type of a persistent storage.
        (string Name, TensorDType DType)[] storages =
        [
            ("FloatStorage", TensorDType.F32), ("HalfStorage", TensorDType.F16), ("BFloat16Storage", TensorDType.BF16),
            ("DoubleStorage", TensorDType.F64), ("LongStorage", TensorDType.I64), ("IntStorage", TensorDType.I32),
            ("ShortStorage", TensorDType.I16), ("CharStorage", TensorDType.I8), ("ByteStorage", TensorDType.U8),
            ("BoolStorage", TensorDType.Bool),
        ];
        foreach (var (name, dtype) in storages)
        {
            d["torch." + name] = (GlobalKind.StorageType, dtype);
            d["torch.cuda." + name] = (GlobalKind.StorageType, dtype);
        }

        (string Name, TensorDType DType)[] dtypes =
        [
            ("float32", TensorDType.F32), ("float", TensorDType.F32), ("float16", TensorDType.F16), ("half", TensorDType.F16),
            ("bfloat16", TensorDType.BF16), ("float64", TensorDType.F64), ("double", TensorDType.F64),
            ("int64", TensorDType.I64), ("long", TensorDType.I64), ("int32", TensorDType.I32), ("int", TensorDType.I32),
            ("int16", TensorDType.I16), ("short", TensorDType.I16), ("int8", TensorDType.I8), ("uint8", TensorDType.U8),
            ("bool", TensorDType.Bool),
        ];
        foreach (var (name, dtype) in dtypes) d["torch." + name] = (GlobalKind.TorchDType, dtype);
        return d;
    }
}
