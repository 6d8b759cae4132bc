using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using EdgeTvq.Format;
using EdgeTvq.Packing;
using EdgeTvq.Quantization;

namespace EdgeTvq.Merging;

/// <summary>
/// One addend c·x̂ of a fused sum, where x̂ is a record's tensor: packed codes (dequantized on the fly, with one scale or one per group), a constant or
/// float32 values. It points into memory that stays put while the blocks of its tensor run (a record's payload copied
/// out of the pipe, or a cached tensor), so any thread can apply any block of it.
/// </summary>
internal readonly unsafe struct Term
{
    public RecordKind Kind { get; init; }
    /// <summary>Packed codes (<see cref="RecordKind.Quantized"/>, <see cref="RecordKind.Grouped"/>) or float32 values (<see cref="RecordKind.Float32"/>).</summary>
    public byte* Data { get; init; }
    /// <summary>Bytes from <see cref="Data"/> to the end of the codes: a block's SIMD loads may read past its own codes, never past these.</summary>
    public long Length { get; init; }
    public QuantParams Params { get; init; }
    /// <summary>The groups' scales and zero points of a <see cref="RecordKind.Grouped"/> record.</summary>
    public GroupedParams? Groups { get; init; }
    public float Value { get; init; }
    public float C { get; init; }

    public Term WithC(float c) => this with { C = c };

    /// <summary>A tensor already in memory as float32 (a cached dq(base)).</summary>
    public static Term Floats(float* values, float c) => new() { Kind = RecordKind.Float32, Data = (byte*)values, C = c };

    /// <summary>dst[i] += C · x̂[start + i] for the block of <paramref name="dst"/>.Length elements at <paramref name="start"/> (a multiple of 8).</summary>
    public void Apply(int start, Span<float> dst)
    {
        switch (Kind)
        {
            case RecordKind.Quantized:
                var p = Params;
                long offset = (long)start / 8 * p.Bits;
                var codes = new ReadOnlySpan<byte>(Data + offset, checked((int)(Length - offset)));
                Accumulate.QuantizedBlock(codes, p, C, dst, SimdWidth.Best);
                break;
            case RecordKind.Grouped:
                var g = Groups!;
                long from = (long)start / 8 * g.Bits;
                GroupedDequantizer.Accumulate(new ReadOnlySpan<byte>(Data + from, checked((int)(Length - from))), g, C, dst, SimdWidth.Best, first: start);
                break;
            case RecordKind.Constant:
                Accumulate.Constant(Value, C, dst);
                break;
            default:
                Accumulate.Float32(new ReadOnlySpan<float>((float*)Data + start, dst.Length), C, dst);
                break;
        }
    }
}

/// <summary>
/// Everything one tensor's fused merge needs, as plain pointers:
/// <code>
///   dst = θ_pre;  FQ: dst += (−b)·dst;  dst += b·dq(base) (filling the cache's dq(base) on the way);  dst += λ_t·dq(task_t) for each t
/// </code>
/// evaluated block by block, so every output block is formed once in cache from all its inputs and written once.
/// Within an element the operations run in the same order whatever the block size or thread, so the result is
/// bit-identical for any thread count.
/// </summary>
internal sealed unsafe class FusedTensor
{
    /// <summary>Elements per block: 64 KiB of output, which stays in L2 while every input is added.</summary>
    public const int BlockElements = 1 << 14; // the tests assume tensors of several blocks at 16384
    /// <summary>Tensors smaller than this run on one thread.</summary>
    public const int ParallelThreshold = 1 << 16;

    public required float* Dst { get; init; }
    public required int Length { get; init; }
    /// <summary>θ_pre in memory (a <see cref="MergeCache"/>), or null when it is read from <see cref="PretrainedSource"/> or into <see cref="Dst"/> already.</summary>
    public float* Pretrained { get; init; }
    /// <summary>A source that reads θ_pre block by block (<see cref="Bundle.ITensorSource.ReadsRanges"/>): each block's pread lands in cache just before its sums.</summary>
    public Bundle.ITensorSource? PretrainedSource { get; init; }
    public string Name { get; init; } = "";
    /// <summary>FQ records hold θ_t: θ_pre·(1 − Σλ) is formed as dst += (−b)·dst with this −b (0: not FQ).</summary>
    public float SelfCoefficient { get; init; }
    public bool ScaleSelf { get; init; }
    /// <summary>The base term (RTVQ): a cached dq(base) or a base record, with C = b.</summary>
    public Term? Base { get; init; }
    /// <summary>When given, dq(base) is also written here (the cache being filled); <see cref="Base"/> is then a record.</summary>
    public float* FillBase { get; init; }
    public required Term[] Tasks { get; init; }

    public void Run(int threads)
    {
        int blocks = (Length + BlockElements - 1) / BlockElements;
        if (threads <= 1 || Length < ParallelThreshold || blocks == 1)
        {
            for (int k = 0; k < blocks; k++) Block(k);
            return;
        }
        try { Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = threads }, Block); }
        catch (AggregateException e) when (e.InnerExceptions.Count >= 1)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerExceptions[0]); // the block's own error (e.g. a failed read), not a wrapper
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Block(int k)
    {
        int start = k * BlockElements, count = Math.Min(BlockElements, Length - start);
        var dst = new Span<float>(Dst + start, count);
        if (Pretrained != null) new ReadOnlySpan<float>(Pretrained + start, count).CopyTo(dst);
        else PretrainedSource?.ReadFloat32(Name, start, dst);
        if (ScaleSelf) Accumulate.Float32(dst, SelfCoefficient, dst);
        if (Base is { } b)
        {
            if (FillBase != null)
            {
                var baseHat = new Span<float>(FillBase + start, count);
                baseHat.Clear();
                b.WithC(1f).Apply(start, baseHat);
                Accumulate.Float32(baseHat, b.C, dst);
            }
            else b.Apply(start, dst);
        }
        foreach (var t in Tasks) t.Apply(start, dst);
    }
}

/// <summary>
/// A bundle file's records copied out of its pipe into memory of its own, so that the next tensor's records can be
/// read (and their checksums verified) while this one's blocks are computed. Two slots per file, reused for every
/// tensor and grown to the largest record: memory is about twice the largest record per open file.
/// </summary>
internal sealed unsafe class RecordSlots : IDisposable
{
    private readonly byte*[] _data = new byte*[2];
    private readonly long[] _capacity = new long[2];

    /// <summary>Copies record <paramref name="r"/>'s tensor bytes into slot <paramref name="slot"/> and describes it as a term (C = 0).</summary>
    public Term Hold(in BundleRecord r, QuantMode mode, int slot)
    {
        switch (r.Kind)
        {
            case RecordKind.Quantized:
                return new Term { Kind = r.Kind, Params = r.QuantParams(mode), Data = Copy(r.Codes, slot), Length = r.Codes.Length };
            case RecordKind.Grouped:
                {
                    var codes = r.GroupedCodes;
                    return new Term { Kind = r.Kind, Groups = r.GroupedParams(), Data = Copy(codes, slot), Length = codes.Length };
                }
            case RecordKind.Constant:
                return new Term { Kind = r.Kind, Value = r.ConstantValue };
            case RecordKind.Float32:
            case RecordKind.OwnFloat32:
                if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("float32 records are little-endian");
                return new Term { Kind = RecordKind.Float32, Data = Copy(r.Payload, slot), Length = r.Payload.Length };
            default:
                throw new ArgumentException($"record '{r.Name}' of kind {r.Kind} holds no tensor");
        }
    }

    private byte* Copy(in ReadOnlySequence<byte> bytes, int slot)
    {
        long length = bytes.Length;
        if (_capacity[slot] < length)
        {
            NativeMemory.AlignedFree(_data[slot]);
            _data[slot] = null;
            _capacity[slot] = 0;
            _data[slot] = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(length, 64), 64);
            _capacity[slot] = length;
        }
        bytes.CopyTo(new Span<byte>(_data[slot], checked((int)length)));
        return _data[slot];
    }

    public void Dispose()
    {
        for (int s = 0; s < 2; s++)
        {
            NativeMemory.AlignedFree(_data[s]);
            _data[s] = null;
        }
    }
}
