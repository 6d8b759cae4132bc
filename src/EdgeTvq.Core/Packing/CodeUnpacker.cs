using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace EdgeTvq.Packing;

/// <summary>Receives unpacked codes from <see cref="CodeUnpacker"/>; one struct per kernel (bytes, dequantize, accumulate).</summary>
public interface ICodeConsumer
{
    /// <summary>Sixteen codes for elements [index, index + 16).</summary>
    void Consume16(Vector256<ushort> codes, int index);
    /// <summary>Eight codes for elements [index, index + 8).</summary>
    void Consume8(Vector128<ushort> codes, int index);
    /// <summary>One code (scalar tail).</summary>
    void Consume1(int code, int index);
}

/// <summary>
/// One generic SIMD driver for every width 1–8. Eight codes always span exactly b bytes, and a code spans at
/// most two bytes, so for lane j (0..7) of a group a byte shuffle gathers the 16-bit word
/// v = byte[⌊jb/8⌋] | byte[⌊jb/8⌋+1] &lt;&lt; 8; multiplying by 2^(8 − (jb mod 8)) (mod 2^16) moves the code to
/// bits 8..8+b−1, and (w &gt;&gt; 8) &amp; (2^b − 1) extracts it. Shuffle indices and multipliers are per-width
/// tables. The shuffle is PSHUFB on x64 (VPSHUFB per 128-bit lane for Vector256) and TBL on arm64 (NEON).
/// Loads read 16 bytes per group, so vector loops stop early enough and the scalar tail finishes.
/// </summary>
public static class CodeUnpacker
{
    private static readonly Vector128<byte>[] Shuffles = new Vector128<byte>[9];
    private static readonly Vector128<ushort>[] Multipliers = new Vector128<ushort>[9];

    static CodeUnpacker()
    {
        Span<byte> idx = stackalloc byte[16];
        Span<ushort> mul = stackalloc ushort[8];
        for (int b = 1; b <= 8; b++)
        {
            for (int j = 0; j < 8; j++)
            {
                int bit = j * b;
                idx[2 * j] = (byte)(bit >> 3);
                idx[2 * j + 1] = (byte)((bit >> 3) + 1);
                mul[j] = (ushort)(1 << (8 - (bit & 7)));
            }
            Shuffles[b] = Vector128.Create((ReadOnlySpan<byte>)idx);
            Multipliers[b] = Vector128.Create((ReadOnlySpan<ushort>)mul);
        }
    }

    public static bool IsVector256Accelerated => Avx2.IsSupported;
    public static bool IsVector128Accelerated => Vector128.IsHardwareAccelerated;

    /// <summary>Runs <paramref name="consumer"/> over codes [0, count) of <paramref name="packed"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loop: fully optimized from its first call, not after tiering
    public static void Run<TConsumer>(ReadOnlySpan<byte> packed, int bits, int count, ref TConsumer consumer, SimdWidth width = SimdWidth.Best)
        where TConsumer : ICodeConsumer, allows ref struct
    {
        BitPacking.CheckBits(bits);
        long need = BitPacking.PackedLength(count, bits);
        if (packed.Length < need) throw new ArgumentException($"packed buffer holds {packed.Length} bytes, {need} needed", nameof(packed));
        if (width == SimdWidth.Best) width = Avx2.IsSupported ? SimdWidth.Vector256 : Vector128.IsHardwareAccelerated ? SimdWidth.Vector128 : SimdWidth.Scalar;

        int i = 0;
        ref byte src = ref MemoryMarshal.GetReference(packed);
        int len = packed.Length;
        ushort maskValue = (ushort)((1 << bits) - 1);

        if (width == SimdWidth.Vector256)
        {
            if (!Avx2.IsSupported) throw new PlatformNotSupportedException("Vector256 unpacking needs AVX2");
            var shuffle = Vector256.Create(Shuffles[bits], Shuffles[bits]);
            var mul = Vector256.Create(Multipliers[bits], Multipliers[bits]);
            var mask = Vector256.Create(maskValue);
            // 16 codes = groups at byte offsets o and o + b; each 16-byte load must stay inside the buffer.
            while (i + 16 <= count && (long)(i / 8) * bits + bits + 16 <= len)
            {
                int o = (i / 8) * bits;
                var lo = Vector128.LoadUnsafe(ref src, (nuint)o);
                var hi = Vector128.LoadUnsafe(ref src, (nuint)(o + bits));
                var words = Avx2.Shuffle(Vector256.Create(lo, hi), shuffle).AsUInt16();
                var codes = Vector256.ShiftRightLogical(Avx2.MultiplyLow(words, mul), 8) & mask;
                consumer.Consume16(codes, i);
                i += 16;
            }
            width = SimdWidth.Vector128;
        }
        if (width == SimdWidth.Vector128 && Vector128.IsHardwareAccelerated)
        {
            var shuffle = Shuffles[bits];
            var mul = Multipliers[bits];
            var mask = Vector128.Create(maskValue);
            while (i + 8 <= count && (long)(i / 8) * bits + 16 <= len)
            {
                int o = (i / 8) * bits;
                var words = Vector128.ShuffleNative(Vector128.LoadUnsafe(ref src, (nuint)o), shuffle).AsUInt16();
                var codes = Vector128.ShiftRightLogical(words * mul, 8) & mask;
                consumer.Consume8(codes, i);
                i += 8;
            }
        }
        for (; i < count; i++) consumer.Consume1(BitPacking.CodeAt(packed, bits, i), i);
    }

    /// <summary>SIMD unpacking to one code per byte; equals <see cref="BitPacking.Unpack"/>.</summary>
    public static void Unpack(ReadOnlySpan<byte> packed, int bits, Span<byte> codes, SimdWidth width = SimdWidth.Best)
    {
        var sink = new ByteSink(codes);
        Run(packed, bits, codes.Length, ref sink, width);
    }

    private ref struct ByteSink(Span<byte> dst) : ICodeConsumer
    {
        private readonly Span<byte> _dst = dst;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Consume16(Vector256<ushort> codes, int index)
            => Vector128.Narrow(codes.GetLower(), codes.GetUpper()).StoreUnsafe(ref MemoryMarshal.GetReference(_dst), (nuint)index);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Consume8(Vector128<ushort> codes, int index)
            => Vector128.Narrow(codes, codes).GetLower().StoreUnsafe(ref MemoryMarshal.GetReference(_dst), (nuint)index);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Consume1(int code, int index) => _dst[index] = (byte)code;
    }
}
