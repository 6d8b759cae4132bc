using EdgeTvq.Packing;
using EdgeTvq.Quantization;

namespace EdgeTvq.Bundle;

/// <summary>
/// A tensor after Q(·): the plan (affine parameters or constant) and the densely packed codes. <see cref="Packed"/>
/// may live in the <see cref="QuantizeBuffers"/> it was made with: valid until they are used again.
/// </summary>
public sealed record QuantizedTensor(QuantPlan Plan, ReadOnlyMemory<byte> Packed)
{
    /// <summary>Grouped (format version 4): the groups' scales and zero points; the plan is then affine, its own parameters unused.</summary>
    public GroupedParams? Groups { get; init; }

    /// <summary>Payload bytes of the record this becomes (docs/bundle-format.md §4.2): kind 7, kind 1, kind 2 or an empty kind 3.</summary>
    public long PayloadBytes => Groups is { } g ? GroupedParams.HeadLength(g.Scales.Length, g.Mode) + Packed.Length
        : Plan.Kind switch { QuantPlanKind.Affine => 8 + Packed.Length, QuantPlanKind.Constant => 4, _ => 0 };

    /// <summary>
    /// Q(x) with group-wise scales (<see cref="GroupQuantizer"/>) for an x computed by <paramref name="source"/>: x is
    /// formed whole in <paramref name="buffers"/>, quantized group by group, packed, dequantized with the kernel the
    /// readers use, and handed to <paramref name="sink"/> in one piece. A tensor of range 0 stays a constant (kind 2).
    /// </summary>
    public static QuantizedTensor QuantizeGrouped(int n, BlockSource source, int bits, Grouping group, BlockSink sink, string tensor, string file, QuantizeBuffers buffers)
    {
        Span<float> x = buffers.X(n), xHat = buffers.XHat(n);
        source(0, x);
        if (!QuantizeKernels.TryComputeRange(x, out var range, out long bad)) throw NotFinite(x[(int)bad], bad, tensor, file);
        var plan = AsymmetricQuantizer.Plan(range, n, bits, QuantMode.Default);
        if (plan.Kind != QuantPlanKind.Affine)
        {
            xHat.Fill(plan.ConstantValue);
            sink(0, xHat);
            return new QuantizedTensor(plan, ReadOnlyMemory<byte>.Empty);
        }
        var codes = buffers.Codes(n).Span;
        var groups = GroupQuantizer.Quantize(x, bits, group.Size, group.Mode, codes);
        var packed = buffers.Packed(BitPacking.PackedLength(n, bits));
        CodePacker.Pack(codes, bits, packed.Span);
        GroupedDequantizer.Dequantize(packed.Span, groups, xHat);
        sink(0, xHat);
        return new QuantizedTensor(plan, packed) { Groups = groups };
    }

    /// <summary>
    /// Q(x, b): quantizes <paramref name="x"/> and writes the dequantized values to <paramref name="xHat"/>.
    /// NaN/Inf are refused with an error naming the tensor and the file it came from. The work is split into blocks
    /// of <see cref="BlockElements"/> spread over up to <paramref name="threads"/> cores; every block's codes and
    /// bytes are those of the scalar reference (<see cref="AsymmetricQuantizer"/>, <see cref="BitPacking"/>), so
    /// the result does not depend on the count.
    /// </summary>
    public static QuantizedTensor Quantize(ReadOnlySpan<float> x, int bits, QuantMode mode, Span<float> xHat, string tensor, string file,
        QuantizeBuffers? buffers = null, int threads = 1)
    {
        buffers ??= new QuantizeBuffers(x.Length);
        var range = Range(x, threads, tensor, file);
        var plan = AsymmetricQuantizer.Plan(range, x.Length, bits, mode);
        if (plan.Kind != QuantPlanKind.Affine)
        {
            xHat.Fill(plan.ConstantValue);
            return new QuantizedTensor(plan, ReadOnlyMemory<byte>.Empty);
        }
        var packed = buffers.Packed(BitPacking.PackedLength(x.Length, bits));
        var codes = buffers.Codes(x.Length);
        if (threads <= 1 || x.Length <= BlockElements)
        {
            Encode(x, plan.Params, codes.Span, packed.Span, xHat);
        }
        else
        {
            unsafe
            {
                fixed (float* px = x, ph = xHat)
                {
                    float* sx = px, sh = ph;
                    int n = x.Length;
                    var p = plan.Params;
                    ForEachBlock(n, threads, (start, count) =>
                    {
                        int byteStart = (int)((long)start * bits / 8);
                        Encode(new ReadOnlySpan<float>(sx + start, count), p, codes.Span.Slice(start, count),
                            packed.Span.Slice(byteStart, (int)BitPacking.PackedLength(count, bits)), new Span<float>(sh + start, count));
                    });
                }
            }
        }
        return new QuantizedTensor(plan, packed);
    }

    /// <summary>Fills <paramref name="x"/> with the elements [start, start + x.Length) of the tensor to quantize.</summary>
    public delegate void BlockSource(int start, Span<float> x);
    /// <summary>Receives Q(x) for the elements [start, start + xHat.Length) (and may change it in place).</summary>
    public delegate void BlockSink(int start, Span<float> xHat);

    /// <summary>Elements per block of <see cref="QuantizeStreamed"/>: its buffers stay in the core's L2 cache.</summary>
    public const int StreamBlockElements = 1 << 14;

    /// <summary>
    /// Q(x, b) for an x that is computed block by block (e.g. offset_t = θ_t − θ_ec) instead of stored: a first pass
    /// takes its range, a second quantizes, packs and dequantizes each block and hands Q(x) to <paramref name="sink"/>,
    /// so nothing tensor-sized is written but the packed codes. <paramref name="source"/> must give the same values in
    /// both passes. Codes and bytes are those of <see cref="Quantize"/>.
    /// </summary>
    public static QuantizedTensor QuantizeStreamed(int n, BlockSource source, int bits, QuantMode mode, BlockSink sink, string tensor, string file, QuantizeBuffers buffers)
    {
        Span<float> x = buffers.X(Math.Min(n, StreamBlockElements)), xHat = buffers.XHat(Math.Min(n, StreamBlockElements));
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        for (int start = 0; start < n; start += StreamBlockElements)
        {
            var block = x[..Math.Min(StreamBlockElements, n - start)];
            source(start, block);
            if (!QuantizeKernels.TryComputeRange(block, out var r, out long bad)) throw NotFinite(block[(int)bad], start + bad, tensor, file);
            if (r.Min < min) min = r.Min;   // in block order with strict comparisons, as one scan
            if (r.Max > max) max = r.Max;
        }
        var plan = AsymmetricQuantizer.Plan(new TensorRange(min, max), n, bits, mode);
        var packed = plan.Kind == QuantPlanKind.Affine ? buffers.Packed(BitPacking.PackedLength(n, bits)) : Memory<byte>.Empty;
        var codes = buffers.Codes(Math.Min(n, StreamBlockElements)).Span;
        for (int start = 0; start < n; start += StreamBlockElements)
        {
            int count = Math.Min(StreamBlockElements, n - start);
            var hat = xHat[..count];
            if (plan.Kind == QuantPlanKind.Affine)
            {
                var block = x[..count];
                source(start, block);
                Encode(block, plan.Params, codes[..count], packed.Span.Slice((int)((long)start * bits / 8), (int)BitPacking.PackedLength(count, bits)), hat);
            }
            else hat.Fill(plan.ConstantValue);
            sink(start, hat);
        }
        return new QuantizedTensor(plan, packed);
    }

    /// <summary>Elements per block of a spread quantization (a multiple of 8, so that blocks pack to whole bytes).</summary>
    public const int BlockElements = 1 << 16;

    private static void Encode(ReadOnlySpan<float> x, in QuantParams p, Span<byte> codes, Span<byte> packed, Span<float> xHat)
    {
        QuantizeKernels.Quantize(x, p, codes);
        CodePacker.Pack(codes, p.Bits, packed);
        Dequantizer.Dequantize(packed, p, xHat);
    }

    private static unsafe TensorRange Range(ReadOnlySpan<float> x, int threads, string tensor, string file)
    {
        if (threads <= 1 || x.Length <= BlockElements)
        {
            if (!QuantizeKernels.TryComputeRange(x, out var r, out long bad)) throw NotFinite(x[(int)bad], bad, tensor, file);
            return r;
        }
        int blocks = (x.Length + BlockElements - 1) / BlockElements;
        var ranges = new (bool Ok, TensorRange Range, long Bad)[blocks];
        fixed (float* px = x)
        {
            float* sx = px;
            int n = x.Length;
            ForEachBlock(n, threads, (start, count) =>
            {
                bool ok = QuantizeKernels.TryComputeRange(new ReadOnlySpan<float>(sx + start, count), out var r, out long bad);
                ranges[start / BlockElements] = (ok, r, bad + start);
            });
        }
        // In block order with strict comparisons: the first element that reaches each extreme wins, as in one scan.
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        foreach (var (ok, r, bad) in ranges)
        {
            if (!ok) throw NotFinite(x[(int)bad], bad, tensor, file);
            if (r.Min < min) min = r.Min;
            if (r.Max > max) max = r.Max;
        }
        return new TensorRange(min, max);
    }

    private static InvalidDataException NotFinite(float value, long index, string tensor, string file) =>
        new($"{Path.GetFileName(file)}, tensor '{tensor}': element {index} of the value to quantize is {value}; NaN/Inf cannot be quantized. Check the checkpoint (and the pretrained one) for diverged weights.");

    /// <summary>Runs <paramref name="body"/>(start, count) for every block of <see cref="BlockElements"/> of 0..n on up to <paramref name="threads"/> cores.</summary>
    internal static void ForEachBlock(int n, int threads, Action<int, int> body)
    {
        int blocks = (n + BlockElements - 1) / BlockElements;
        ParallelWork.For(blocks, threads, b =>
        {
            int start = b * BlockElements;
            body(start, Math.Min(BlockElements, n - start));
        });
    }
}

/// <summary>Reusable code and packed-byte buffers for <see cref="QuantizedTensor.Quantize"/>: no fresh pages per tensor.</summary>
public sealed class QuantizeBuffers(int capacity)
{
    private byte[] _codes = new byte[capacity];
    private float[] _x = [], _xHat = [];

    internal Span<float> X(int count)
    {
        if (_x.Length < count) _x = new float[count];
        return _x.AsSpan(0, count);
    }

    internal Span<float> XHat(int count)
    {
        if (_xHat.Length < count) _xHat = new float[count];
        return _xHat.AsSpan(0, count);
    }
    private byte[] _packed = new byte[BitPacking.PackedLength(capacity, 8)];

    public Memory<byte> Codes(int count)
    {
        if (_codes.Length < count) _codes = new byte[count];
        return _codes.AsMemory(0, count);
    }

    public Memory<byte> Packed(long bytes)
    {
        if (_packed.Length < bytes) _packed = new byte[bytes];
        return _packed.AsMemory(0, (int)bytes);
    }
}

/// <summary>Parallel loops that rethrow the first failure as it was thrown (not wrapped in an AggregateException).</summary>
internal static class ParallelWork
{
    public static int Threads(int requested) => requested > 0 ? requested : Environment.ProcessorCount;

    public static void For(int count, int threads, Action<int> body)
    {
        if (count == 1 || threads <= 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        try
        {
            Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = threads }, body);
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
    }
}
