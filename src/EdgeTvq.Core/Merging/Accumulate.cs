using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using EdgeTvq.Format;
using EdgeTvq.Packing;
using EdgeTvq.Quantization;

namespace EdgeTvq.Merging;

/// <summary>
/// The merge kernels: dst[i] += c · x̂[i], where x̂ is a record's tensor — packed codes dequantized on the fly
/// (Eq. 2, fused, never materialised), a constant, or stored float32 values. Every path evaluates exactly
/// <c>dst + c · x̂</c> with x̂ computed as <see cref="AsymmetricQuantizer.Dequantize"/> does, one rounding per operation and
/// no fused multiply-add, so SIMD results are bit-identical to the scalar reference (tests hold them to that).
/// Large tensors are split into chunks of whole 8-code groups and spread over the cores.
/// </summary>
public static class Accumulate
{
    /// <summary>Tensors smaller than this run on the calling thread.</summary>
    public const int ParallelThreshold = 1 << 16;
    private const int ChunkElements = 1 << 15; // a multiple of 8: chunk boundaries fall on whole code groups

    /// <summary>dst += c · dq(codes): the fused dequantize-accumulate kernel.</summary>
    public static void Quantized(ReadOnlySpan<byte> packed, in QuantParams p, float c, Span<float> dst, SimdWidth width = SimdWidth.Best, bool parallel = true)
    {
        if (packed.Length < BitPacking.PackedLength(dst.Length, p.Bits))
            throw new ArgumentException($"packed buffer holds {packed.Length} bytes, {BitPacking.PackedLength(dst.Length, p.Bits)} needed", nameof(packed));
        if (!parallel || dst.Length < ParallelThreshold || Environment.ProcessorCount == 1)
        {
            QuantizedBlock(packed, p, c, dst, width);
            return;
        }
        unsafe
        {
            fixed (byte* src = packed)
            fixed (float* d = dst)
            {
                var (s, dd, n, bits) = ((IntPtr)src, (IntPtr)d, dst.Length, p.Bits);
                var q = p;
                int chunks = (n + ChunkElements - 1) / ChunkElements;
                Parallel.For(0, chunks, k =>
                {
                    int start = k * ChunkElements, count = Math.Min(ChunkElements, n - start);
                    long byteStart = (long)start / 8 * bits;
                    var chunkCodes = new ReadOnlySpan<byte>((byte*)s + byteStart, (int)BitPacking.PackedLength(count, bits));
                    QuantizedBlock(chunkCodes, q, c, new Span<float>((float*)dd + start, count), width);
                });
            }
        }
    }

    /// <summary><see cref="Quantized"/> on one thread: dst += c · dq(codes) for one block of a tensor (its codes start on a whole 8-code group).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loop: fully optimized from its first call, not after tiering
    internal static void QuantizedBlock(ReadOnlySpan<byte> packed, in QuantParams p, float c, Span<float> dst, SimdWidth width)
    {
        if (p.Mode == QuantMode.Reference)
        {
            var sink = new Sink<Dequantizer.DivideByScale>(dst, p.Scale, p.ZeroPoint, c);
            CodeUnpacker.Run(packed, p.Bits, dst.Length, ref sink, width);
        }
        else
        {
            var sink = new Sink<Dequantizer.MultiplyByStep>(dst, p.Scale, p.ZeroPoint, c);
            CodeUnpacker.Run(packed, p.Bits, dst.Length, ref sink, width);
        }
    }

    /// <summary>dst += c · dq(codes) for a grouped record (kind 7): each element with its group's scale and zero point.</summary>
    public static void Grouped(ReadOnlySpan<byte> packed, GroupedParams p, float c, Span<float> dst, SimdWidth width = SimdWidth.Best, bool parallel = true)
    {
        if (packed.Length < BitPacking.PackedLength(dst.Length, p.Bits))
            throw new ArgumentException($"packed buffer holds {packed.Length} bytes, {BitPacking.PackedLength(dst.Length, p.Bits)} needed", nameof(packed));
        if (!parallel || dst.Length < ParallelThreshold || Environment.ProcessorCount == 1)
        {
            GroupedDequantizer.Accumulate(packed, p, c, dst, width);
            return;
        }
        unsafe
        {
            fixed (byte* src = packed)
            fixed (float* d = dst)
            {
                var (s, dd, n, bits) = ((IntPtr)src, (IntPtr)d, dst.Length, p.Bits);
                int chunks = (n + ChunkElements - 1) / ChunkElements;
                Parallel.For(0, chunks, k =>
                {
                    int start = k * ChunkElements, count = Math.Min(ChunkElements, n - start);
                    long byteStart = (long)start / 8 * bits;
                    var chunkCodes = new ReadOnlySpan<byte>((byte*)s + byteStart, (int)BitPacking.PackedLength(count, bits));
                    GroupedDequantizer.Accumulate(chunkCodes, p, c, new Span<float>((float*)dd + start, count), width, first: start);
                });
            }
        }
    }

    /// <summary>Scalar reference of <see cref="Quantized"/>: dst[i] = dst[i] + c · dq(code[i]).</summary>
    public static void QuantizedReference(ReadOnlySpan<byte> codes, in QuantParams p, float c, Span<float> dst)
    {
        for (int i = 0; i < dst.Length; i++)
            dst[i] += c * p.Dequantize(codes[i]);
    }

    /// <summary>dst += c · value (a constant record).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loop: fully optimized from its first call, not after tiering
    public static void Constant(float value, float c, Span<float> dst)
    {
        float add = c * value;
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var a = Vector256.Create(add);
            ref float d = ref MemoryMarshal.GetReference(dst);
            for (; i + 8 <= dst.Length; i += 8) (Vector256.LoadUnsafe(ref d, (nuint)i) + a).StoreUnsafe(ref d, (nuint)i);
        }
        for (; i < dst.Length; i++) dst[i] += add;
    }

    /// <summary>dst += c · src (float32 records), Vector256/Vector128 with a scalar tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loop: fully optimized from its first call, not after tiering
    public static void Float32(ReadOnlySpan<float> src, float c, Span<float> dst, SimdWidth width = SimdWidth.Best)
    {
        if (src.Length != dst.Length) throw new ArgumentException("source and destination lengths differ");
        int i = 0;
        ref float s = ref MemoryMarshal.GetReference(src);
        ref float d = ref MemoryMarshal.GetReference(dst);
        if (width is SimdWidth.Best or SimdWidth.Vector256 && Vector256.IsHardwareAccelerated)
        {
            var cv = Vector256.Create(c);
            for (; i + 8 <= dst.Length; i += 8)
                (Vector256.LoadUnsafe(ref d, (nuint)i) + cv * Vector256.LoadUnsafe(ref s, (nuint)i)).StoreUnsafe(ref d, (nuint)i);
        }
        if (width is SimdWidth.Best or SimdWidth.Vector256 or SimdWidth.Vector128 && Vector128.IsHardwareAccelerated)
        {
            var cv = Vector128.Create(c);
            for (; i + 4 <= dst.Length; i += 4)
                (Vector128.LoadUnsafe(ref d, (nuint)i) + cv * Vector128.LoadUnsafe(ref s, (nuint)i)).StoreUnsafe(ref d, (nuint)i);
        }
        for (; i < dst.Length; i++) dst[i] += c * src[i];
    }

    /// <summary>dst += c · (the record's tensor), whatever its kind.</summary>
    public static void Record(in BundleRecord r, QuantMode mode, float c, Span<float> dst)
    {
        if (r.ElementCount != dst.Length) throw new ArgumentException($"record '{r.Name}' has {r.ElementCount} elements, destination {dst.Length}");
        byte[]? rented = null;
        try
        {
            switch (r.Kind)
            {
                case RecordKind.Quantized:
                    Quantized(Contiguous(r.Codes, ref rented), r.QuantParams(mode), c, dst);
                    break;
                case RecordKind.Grouped:
                    Grouped(Contiguous(r.GroupedCodes, ref rented), r.GroupedParams(), c, dst);
                    break;
                case RecordKind.Constant:
                    Constant(r.ConstantValue, c, dst);
                    break;
                case RecordKind.Float32:
                case RecordKind.OwnFloat32:
                    Float32(MemoryMarshal.Cast<byte, float>(Contiguous(r.Payload, ref rented)), c, dst);
                    break;
                default:
                    throw new ArgumentException($"record '{r.Name}' of kind {r.Kind} holds no tensor");
            }
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>The bytes as one span: the buffer itself, or a pooled copy when the pipe split them.</summary>
    private static ReadOnlySpan<byte> Contiguous(in ReadOnlySequence<byte> bytes, ref byte[]? rented)
    {
        if (bytes.IsSingleSegment) return bytes.FirstSpan;
        rented = ArrayPool<byte>.Shared.Rent((int)bytes.Length);
        bytes.CopyTo(rented);
        return rented.AsSpan(0, (int)bytes.Length);
    }

    /// <summary>dst[i] += c · dq(q) for 16, 8 or 1 codes at a time.</summary>
    private ref struct Sink<TForm>(Span<float> dst, float scale, float zeroPoint, float c) : ICodeConsumer where TForm : Dequantizer.IAffineForm
    {
        private readonly Span<float> _dst = dst;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Consume16(Vector256<ushort> codes, int index)
        {
            var (lo, hi) = Dequantizer.ToFloat(codes);
            var (s, z, cv) = (Vector256.Create(scale), Vector256.Create(zeroPoint), Vector256.Create(c));
            ref float d = ref MemoryMarshal.GetReference(_dst);
            (Vector256.LoadUnsafe(ref d, (nuint)index) + cv * TForm.Apply(lo, s, z)).StoreUnsafe(ref d, (nuint)index);
            (Vector256.LoadUnsafe(ref d, (nuint)index + 8) + cv * TForm.Apply(hi, s, z)).StoreUnsafe(ref d, (nuint)index + 8);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Consume8(Vector128<ushort> codes, int index)
        {
            var (lo, hi) = Dequantizer.ToFloat(codes);
            var (s, z, cv) = (Vector128.Create(scale), Vector128.Create(zeroPoint), Vector128.Create(c));
            ref float d = ref MemoryMarshal.GetReference(_dst);
            (Vector128.LoadUnsafe(ref d, (nuint)index) + cv * TForm.Apply(lo, s, z)).StoreUnsafe(ref d, (nuint)index);
            (Vector128.LoadUnsafe(ref d, (nuint)index + 4) + cv * TForm.Apply(hi, s, z)).StoreUnsafe(ref d, (nuint)index + 4);
        }

        public void Consume1(int code, int index) => _dst[index] += c * TForm.Apply(code, scale, zeroPoint);
    }
}
