namespace EdgeTvq.Packing;

/// <summary>Which code path a kernel uses; tests force each one and compare it with the scalar reference.</summary>
public enum SimdWidth
{
    /// <summary>The widest path this CPU accelerates.</summary>
    Best,
    Scalar,
    Vector128,
    Vector256,
}
