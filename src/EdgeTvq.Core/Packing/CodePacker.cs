using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace EdgeTvq.Packing;

/// <summary>
/// Fast dense packing, the same bytes as <see cref="BitPacking.Pack"/> (tested against it). Eight codes of b bits fill
/// exactly b bytes, so each group of 8 code bytes, read as one little-endian 64-bit word, packs into its b output bytes
/// by extracting the low b bits of every byte (PEXT with BMI2, shifts otherwise). Codes wider than b bits are refused
/// as by the reference.
/// </summary>
public static class CodePacker
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loop: fully optimized from its first call
    public static void Pack(ReadOnlySpan<byte> codes, int bits, Span<byte> packed)
    {
        BitPacking.CheckBits(bits);
        long need = BitPacking.PackedLength(codes.Length, bits);
        if (packed.Length != need) throw new ArgumentException($"packed buffer must be {need} bytes, got {packed.Length}", nameof(packed));
        int groups = codes.Length / 8;
        ulong laneMask = 0x0101010101010101UL * (ulong)((1 << bits) - 1);
        ref byte src = ref MemoryMarshal.GetReference(codes);
        int g = 0;
        // Whole 8-byte stores while they stay inside the output (the next group overwrites the spill).
        int wide = packed.Length < 8 ? 0 : Math.Min(groups, (packed.Length - 8) / bits + 1);
        if (Bmi2.X64.IsSupported)
        {
            for (; g < wide; g++)
            {
                ulong w = ReadGroup(ref src, g, laneMask, codes);
                BinaryPrimitives.WriteUInt64LittleEndian(packed[(g * bits)..], Bmi2.X64.ParallelBitExtract(w, laneMask));
            }
        }
        else
        {
            for (; g < wide; g++)
            {
                ulong w = ReadGroup(ref src, g, laneMask, codes);
                BinaryPrimitives.WriteUInt64LittleEndian(packed[(g * bits)..], Compress(w, bits));
            }
        }
        Span<byte> last = stackalloc byte[8];
        for (; g < groups; g++)
        {
            ulong w = ReadGroup(ref src, g, laneMask, codes);
            BinaryPrimitives.WriteUInt64LittleEndian(last, Compress(w, bits));
            last[..bits].CopyTo(packed[(g * bits)..]);
        }
        for (int i = groups * 8; i < codes.Length; i++)
            if (codes[i] >> bits != 0) throw new ArgumentException($"code {codes[i]} at index {i} does not fit in {bits} bits", nameof(codes));
        BitPacking.Pack(codes[(groups * 8)..], bits, packed[(groups * bits)..]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong ReadGroup(ref byte src, int g, ulong laneMask, ReadOnlySpan<byte> codes)
    {
        ulong w = BinaryPrimitives.ReadUInt64LittleEndian(MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref src, g * 8), 8));
        if ((w & ~laneMask) != 0) Refuse(g, laneMask, codes);
        return w;
    }

    private static void Refuse(int g, ulong laneMask, ReadOnlySpan<byte> codes)
    {
        {
            int bits = System.Numerics.BitOperations.PopCount(laneMask) / 8;
            for (int j = 0; j < 8; j++)
                if (codes[g * 8 + j] >> bits != 0)
                    throw new ArgumentException($"code {codes[g * 8 + j]} at index {g * 8 + j} does not fit in {bits} bits", nameof(codes));
        }
    }

    private static ulong Compress(ulong w, int bits)
    {
        ulong r = 0;
        for (int j = 0; j < 8; j++) r |= ((w >> (8 * j)) & 0xFF) << (j * bits);
        return r;
    }
}
