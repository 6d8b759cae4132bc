using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using EdgeTvq.Quantization;

namespace EdgeTvq.Packing;

/// <summary>
/// Kernels of grouped records (kind 7): unpack and x̂ = step_g·(q − z_g) with each element's own group, written
/// (<see cref="Dequantize"/>) or accumulated as dst += c·x̂ (<see cref="Accumulate"/>). They run over a block of a
/// tensor that starts at element <c>first</c> (a multiple of 8, so its codes start on a byte). Sixteen (or eight)
/// codes inside one group take the vector path with that group's step and zero point broadcast; a vector that
/// straddles a group boundary is finished lane by lane with the same arithmetic, so every width is bit-identical to
/// <see cref="GroupQuantizer.Dequantize"/> (tests hold them to it).
/// </summary>
public static class GroupedDequantizer
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loop: fully optimized from its first call, not after tiering
    public static void Dequantize(ReadOnlySpan<byte> packed, GroupedParams p, Span<float> output, SimdWidth width = SimdWidth.Best, int first = 0)
    {
        var sink = new Sink<Write>(output, p, first, 1f);
        CodeUnpacker.Run(packed, p.Bits, output.Length, ref sink, width);
    }

    /// <summary>dst += c·x̂ for the block of dst.Length elements at <paramref name="first"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Accumulate(ReadOnlySpan<byte> packed, GroupedParams p, float c, Span<float> dst, SimdWidth width = SimdWidth.Best, int first = 0)
    {
        var sink = new Sink<Add>(dst, p, first, c);
        CodeUnpacker.Run(packed, p.Bits, dst.Length, ref sink, width);
    }

    /// <summary>Scalar reference of <see cref="Accumulate"/>: dst[i] = dst[i] + c·x̂[i] (codes one byte per element).</summary>
    public static void AccumulateReference(ReadOnlySpan<byte> codes, GroupedParams p, float c, Span<float> dst)
    {
        for (int i = 0; i < dst.Length; i++)
            dst[i] += c * p.Dequantize(codes[i], i);
    }

    /// <summary>Whether a sink writes x̂ or adds c·x̂; fixed at compile time.</summary>
    private interface IOutput { static abstract bool Adds { get; } }
    private readonly struct Write : IOutput { public static bool Adds => false; }
    private readonly struct Add : IOutput { public static bool Adds => true; }

    /// <summary>
    /// The driver hands codes over in increasing element order, so the sink walks the groups along: (step, zero) of
    /// the current group are kept, and a new group is looked up only when an element passes its end.
    /// </summary>
    private ref struct Sink<TOut> : ICodeConsumer where TOut : IOutput
    {
        private readonly Span<float> _dst;
        private readonly float[] _steps, _zeros;
        private readonly long _groupSize, _first;
        private readonly float _c;
        private long _end;            // first block index past the current group
        private int _g;               // the current group
        private float _step, _zero;   // its step and zero point

        public Sink(Span<float> dst, GroupedParams p, int first, float c)
        {
            _dst = dst;
            (_steps, _zeros, _groupSize, _first, _c) = (p.Steps, p.Zeros, p.GroupSize, first, c);
            _g = (int)(first / _groupSize);
            _end = (_g + 1) * _groupSize - first;
            (_step, _zero) = (_steps[_g], _zeros[_g]);
        }

        /// <summary>Moves to the group of block element <paramref name="index"/>; true when the <paramref name="lanes"/> elements from it are all in it.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private bool InOneGroup(int index, int lanes)
        {
            if (index >= _end)
            {
                _g = (int)((_first + index) / _groupSize);
                _end = (_g + 1) * _groupSize - _first;
                (_step, _zero) = (_steps[_g], _zeros[_g]);
            }
            return index + lanes <= _end;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Consume16(Vector256<ushort> codes, int index)
        {
            if (!InOneGroup(index, 16))
            {
                for (int j = 0; j < 16; j++) Consume1(codes.GetElement(j), index + j);
                return;
            }
            var (lo, hi) = Dequantizer.ToFloat(codes);
            var (s, z) = (Vector256.Create(_step), Vector256.Create(_zero));
            ref float d = ref MemoryMarshal.GetReference(_dst);
            Vector256<float> a = s * (lo - z), b = s * (hi - z);
            if (TOut.Adds)
            {
                var cv = Vector256.Create(_c);
                a = Vector256.LoadUnsafe(ref d, (nuint)index) + cv * a;
                b = Vector256.LoadUnsafe(ref d, (nuint)index + 8) + cv * b;
            }
            a.StoreUnsafe(ref d, (nuint)index);
            b.StoreUnsafe(ref d, (nuint)index + 8);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Consume8(Vector128<ushort> codes, int index)
        {
            if (!InOneGroup(index, 8))
            {
                for (int j = 0; j < 8; j++) Consume1(codes.GetElement(j), index + j);
                return;
            }
            var (lo, hi) = Dequantizer.ToFloat(codes);
            var (s, z) = (Vector128.Create(_step), Vector128.Create(_zero));
            ref float d = ref MemoryMarshal.GetReference(_dst);
            Vector128<float> a = s * (lo - z), b = s * (hi - z);
            if (TOut.Adds)
            {
                var cv = Vector128.Create(_c);
                a = Vector128.LoadUnsafe(ref d, (nuint)index) + cv * a;
                b = Vector128.LoadUnsafe(ref d, (nuint)index + 4) + cv * b;
            }
            a.StoreUnsafe(ref d, (nuint)index);
            b.StoreUnsafe(ref d, (nuint)index + 4);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Consume1(int code, int index)
        {
            InOneGroup(index, 1);
            float v = _step * (code - _zero);
            _dst[index] = TOut.Adds ? _dst[index] + _c * v : v;
        }
    }
}
