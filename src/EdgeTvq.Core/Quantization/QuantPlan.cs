namespace EdgeTvq.Quantization;

/// <summary>What the quantizer decided for one tensor.</summary>
public enum QuantPlanKind : byte
{
    /// <summary>Codes with affine parameters (the normal case).</summary>
    Affine,
    /// <summary>Every element has the same value (range 0, e.g. a frozen layer's zero task vector).</summary>
    Constant,
    /// <summary>The tensor has no elements.</summary>
    Empty,
}

/// <summary>Outcome of <see cref="AsymmetricQuantizer.Plan"/> for one tensor.</summary>
public readonly record struct QuantPlan(QuantPlanKind Kind, QuantParams Params, float ConstantValue)
{
    public static QuantPlan Empty(int bits, QuantMode mode) => new(QuantPlanKind.Empty, new QuantParams(bits, 1f, 0f, mode), 0f);
    public static QuantPlan Constant(int bits, QuantMode mode, float value) => new(QuantPlanKind.Constant, new QuantParams(bits, 1f, 0f, mode), value);
}
