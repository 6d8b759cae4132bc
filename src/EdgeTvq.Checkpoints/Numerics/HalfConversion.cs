using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace EdgeTvq.Checkpoints.Numerics;

/// <summary>Exact widening of stored element bytes to float32 (and narrowing of float64 with round-to-nearest-even).</summary>
internal static class HalfConversion
{
    // IEEE 754 binary16: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits.
    // binary32:          1 sign bit, 8 exponent bits (bias 127), 23 mantissa bits.
    // A normal half re-biases its exponent by 127 - 15 = 112 (0x38000000 once shifted to bit 23) and
    // shifts its mantissa up by 23 - 10 = 13 bits. Subnormal halves are mantissa * 2^-24, exact in float32.
    // Inf/NaN (exponent all ones) keep their payload, shifted by 13, and NaNs get the quiet bit (bit 22) set,
    // exactly as x86 F16C / PyTorch's half->float conversion does; bfloat16 NaNs are widened unchanged (as PyTorch).
    private const uint HalfSignMask = 0x8000;
    private const uint HalfMagnitudeMask = 0x7FFF;
    private const uint HalfInfinityBits = 0x7C00;
    private const uint HalfMinNormalBits = 0x0400;
    private const uint HalfMantissaMask = 0x03FF;
    private const uint SingleExponentMask = 0x7F800000;
    private const uint SingleQuietNaNBit = 0x00400000;
    private const uint ExponentRebias = (127 - 15) << 23;
    private const int MantissaShift = 13;
    private const float HalfSubnormalUnit = 1.0f / 16777216.0f; // 2^-24

    public static float HalfBitsToSingle(ushort h)
    {
        uint sign = (h & HalfSignMask) << 16;
        uint magnitude = h & HalfMagnitudeMask;
        uint bits;
        if (magnitude > HalfInfinityBits)
            bits = sign | SingleExponentMask | SingleQuietNaNBit | ((magnitude & HalfMantissaMask) << MantissaShift);
        else if (magnitude == HalfInfinityBits)
            bits = sign | SingleExponentMask;
        else if (magnitude >= HalfMinNormalBits)
            bits = sign | ((magnitude << MantissaShift) + ExponentRebias);
        else
            bits = sign | BitConverter.SingleToUInt32Bits(magnitude * HalfSubnormalUnit);
        return BitConverter.UInt32BitsToSingle(bits);
    }

    // bfloat16 is the upper half of a float32: widening is a 16-bit shift, exact for every pattern.
    public static float BFloat16BitsToSingle(ushort b) => BitConverter.UInt32BitsToSingle((uint)b << 16);

    /// <summary>Converts <c>destination.Length</c> elements from little-endian <paramref name="source"/>.</summary>
    public static void ToSingle(TensorDType dtype, ReadOnlySpan<byte> source, Span<float> destination)
    {
        switch (dtype)
        {
            case TensorDType.F32:
                if (BitConverter.IsLittleEndian)
                {
                    MemoryMarshal.Cast<byte, float>(source[..(destination.Length * 4)]).CopyTo(destination);
                }
                else
                {
                    for (int i = 0; i < destination.Length; i++)
                        destination[i] = BinaryPrimitives.ReadSingleLittleEndian(source[(i * 4)..]);
                }
                break;
            case TensorDType.F16:
                for (int i = 0; i < destination.Length; i++)
                    destination[i] = HalfBitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(source[(i * 2)..]));
                break;
            case TensorDType.BF16:
                for (int i = 0; i < destination.Length; i++)
                    destination[i] = BFloat16BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(source[(i * 2)..]));
                break;
            case TensorDType.F64:
                for (int i = 0; i < destination.Length; i++)
                    destination[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(source[(i * 8)..]);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not a floating dtype");
        }
    }

    /// <summary>Index of the first element that is Inf/NaN as float32, or -1.</summary>
    public static int IndexOfNonFinite(TensorDType dtype, ReadOnlySpan<byte> source)
    {
        switch (dtype)
        {
            case TensorDType.F32:
                for (int i = 0; i < source.Length / 4; i++)
                    if ((BinaryPrimitives.ReadUInt32LittleEndian(source[(i * 4)..]) & 0x7F800000u) == 0x7F800000u) return i;
                return -1;
            case TensorDType.F16:
                for (int i = 0; i < source.Length / 2; i++)
                    if ((BinaryPrimitives.ReadUInt16LittleEndian(source[(i * 2)..]) & 0x7C00) == 0x7C00) return i;
                return -1;
            case TensorDType.BF16:
                for (int i = 0; i < source.Length / 2; i++)
                    if ((BinaryPrimitives.ReadUInt16LittleEndian(source[(i * 2)..]) & 0x7F80) == 0x7F80) return i;
                return -1;
            case TensorDType.F64:
                // Judged after narrowing, as ReadFloat32 would return it: 1e300 becomes +inf.
                for (int i = 0; i < source.Length / 8; i++)
                    if (!float.IsFinite((float)BinaryPrimitives.ReadDoubleLittleEndian(source[(i * 8)..]))) return i;
                return -1;
            default:
                return -1;
        }
    }
}
