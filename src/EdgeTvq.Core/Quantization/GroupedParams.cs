namespace EdgeTvq.Quantization;

/// <summary>Payload byte 0 of a grouped record (kind 7): how a group's scale turns codes into values.</summary>
public enum GroupMode : byte
{
    /// <summary>Eq. 1–2 per group: x̂ = Δ_g·(q − z_g), one step Δ_g and one integer zero point z_g per group.</summary>
    Affine = 0,
    /// <summary>BitDelta: 1-bit codes, x̂ = α_g·sign, sign = +1 for q = 1 and −1 for q = 0; α_g = mean |x| over the group.</summary>
    Sign = 1,
}

/// <summary>
/// Parameters of a grouped record (format version 4, record kind 7): elements [g·G, (g + 1)·G) form group g, and
/// group g has its own scale (and zero point). The last group may be partial: M = ⌈E/G⌉ groups.
/// <para>Affine: <see cref="Scales"/>[g] is the step Δ_g and x̂_i = Δ_g·(q_i − z_g) (the default quantizer's Eq. 2 per group).</para>
/// <para>Sign: <see cref="Scales"/>[g] is α_g and x̂_i = α_g·(2q_i − 1); there are no zero points.</para>
/// The kernels evaluate both as one form, x̂ = step_g·(q − z_g), with step_g = 2α_g and z_g = ½ for signs: (1 − ½)·2α = α
/// and (0 − ½)·2α = −α exactly, so they are bit-identical to α·(±1).
/// </summary>
public sealed class GroupedParams
{
    public int Bits { get; }
    public GroupMode Mode { get; }
    /// <summary>G: elements per group (≥ 1).</summary>
    public int GroupSize { get; }
    /// <summary>Δ_g (affine) or α_g (sign), one per group.</summary>
    public float[] Scales { get; }
    /// <summary>z_g (affine), one per group; empty for sign.</summary>
    public float[] ZeroPoints { get; }
    /// <summary>The kernels' step_g: Δ_g, or 2α_g for signs.</summary>
    internal float[] Steps { get; }
    /// <summary>The kernels' z_g: the zero point, or ½ for signs.</summary>
    internal float[] Zeros { get; }

    public GroupedParams(int bits, GroupMode mode, int groupSize, float[] scales, float[]? zeroPoints)
    {
        if (bits is < AsymmetricQuantizer.MinBits or > AsymmetricQuantizer.MaxBits) throw new ArgumentOutOfRangeException(nameof(bits), bits, "bit width must be between 1 and 8");
        if (groupSize < 1) throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize, "a group holds at least one element");
        if (mode == GroupMode.Sign && bits != 1) throw new ArgumentException("sign (BitDelta) groups have 1-bit codes", nameof(bits));
        (Bits, Mode, GroupSize, Scales) = (bits, mode, groupSize, scales);
        if (mode == GroupMode.Sign)
        {
            ZeroPoints = [];
            Steps = new float[scales.Length];
            for (int g = 0; g < scales.Length; g++) Steps[g] = 2f * scales[g];
            Zeros = new float[scales.Length];
            Zeros.AsSpan().Fill(0.5f);
        }
        else
        {
            ZeroPoints = zeroPoints ?? throw new ArgumentNullException(nameof(zeroPoints));
            if (zeroPoints.Length != scales.Length) throw new ArgumentException("one zero point per scale", nameof(zeroPoints));
            (Steps, Zeros) = (scales, zeroPoints);
        }
    }

    /// <summary>M = ⌈E/G⌉ groups of a tensor of <paramref name="elements"/> elements.</summary>
    public static long GroupCount(long elements, int groupSize) => (elements + groupSize - 1) / groupSize;

    /// <summary>Payload bytes before the codes: mode, 3 reserved, u32 G, then M f32 scales and (affine) M f32 zero points.</summary>
    public static long HeadLength(long groups, GroupMode mode) => 8 + 4 * groups * (mode == GroupMode.Sign ? 1 : 2);

    /// <summary>Element i's value for code <paramref name="code"/>, evaluated exactly as the kernels do.</summary>
    public float Dequantize(int code, long i)
    {
        int g = (int)(i / GroupSize);
        return Steps[g] * (code - Zeros[g]);
    }
}

/// <summary>How one tensor's records are grouped: G elements per scale, affine or sign (what a table entry's group says).</summary>
public readonly record struct Grouping(int Size, GroupMode Mode);
