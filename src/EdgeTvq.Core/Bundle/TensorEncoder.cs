using System.Runtime.Intrinsics;
using System.Numerics.Tensors;
using EdgeTvq.Format;
using EdgeTvq.Quantization;

namespace EdgeTvq.Bundle;

/// <summary>
/// Encodes one table tensor for every task being packed (and the RTVQ base) and writes the records, while
/// accumulating each task's quantization error and sparsity for the manifest.
/// </summary>
internal sealed class TensorEncoder(PackOptions options, ITensorSource pretrained, IReadOnlyList<TaskPlan> plans)
{
    private readonly StatsAccumulator[] _stats = plans.Select(_ => new StatsAccumulator()).ToArray();
    private readonly int _threads = ParallelWork.Threads(options.Threads);
    // Buffers reused from tensor to tensor (grown to the largest): θ_pre, every θ_t, and the RTVQ base's.
    private float[] _pre = [], _baseHat = [], _reference = [], _baseVector = [];
    private readonly float[][] _fts = plans.Select(_ => Array.Empty<float>()).ToArray();
    private readonly QuantizeBuffers _baseBuffers = new(0);
    // One set of per-task scratch buffers for each task encoded at the same time.
    private readonly System.Collections.Concurrent.ConcurrentBag<Workspace> _workspaces = [];

    public TaskStats[] Stats => _stats.Select(s => s.ToStats()).ToArray();

    /// <summary>Pack: encodes <paramref name="entry"/> for all tasks, computing the RTVQ base from them.</summary>
    public void Encode(TensorEntry entry, BundleFileWriter? baseWriter, IReadOnlyList<BundleFileWriter> writers)
    {
        int n = Read(entry);
        var pre = _pre.AsMemory(0, n);
        var fts = _fts.Select(f => (ReadOnlyMemory<float>)f.AsMemory(0, n)).ToArray();
        if (entry.Storage == "full")
        {
            ForEachTask(fts.Length, n, (t, ws) =>
            {
                var tau = ws.Scratch.AsSpan(0, n);
                TensorPrimitives.Subtract(fts[t].Span, pre.Span, tau);
                writers[t].WriteFloat32(entry.Name, entry.Shape, tau, ownTensor: false);
            });
            return;
        }
        if (options.Scheme == Scheme.Rtvq)
        {
            Grow(ref _baseHat, n);
            Grow(ref _reference, n);
            Grow(ref _baseVector, n);
            var baseHat = _baseHat.AsMemory(0, n);
            var reference = _reference.AsMemory(0, n);
            var qb = TaskVectorSchemes.RtvqBase(pre, fts, options.BaseBits!.Value, options.ErrorCorrection, options.Mode, baseHat, reference, _baseVector,
                entry.Name, "base vector", _baseBuffers, _threads);
            // The base record is written beside the tasks' work (item T).
            ForEachTask(fts.Length + 1, n, (t, ws) =>
            {
                if (t == fts.Length)
                {
                    Write(baseWriter!, entry, qb);
                    return;
                }
                var q = TaskVectorSchemes.RtvqOffset(fts[t], reference, baseHat, options.OffsetBits!.Value, options.Mode, Account(t, pre, fts[t], ws),
                    entry.Name, plans[t].Task.Source.Path, ws.Quantize);
                Write(writers[t], entry, q);
            });
        }
        else
        {
            ForEachTask(fts.Length, n, (t, ws) =>
            {
                string file = plans[t].Task.Source.Path;
                var q = options.Scheme == Scheme.Fq
                    ? TaskVectorSchemes.Fq(pre, fts[t], options.Bits!.Value, options.Mode, Account(t, pre, fts[t], ws), entry.Name, file, ws.Quantize)
                    : TaskVectorSchemes.Tvq(pre, fts[t], options.Bits!.Value, options.Mode, Account(t, pre, fts[t], ws), entry.Name, file, ws.Quantize);
                Write(writers[t], entry, q);
            });
        }
    }

    /// <summary>
    /// Runs <paramref name="encode"/> for items 0..count−1 (the tasks, and for RTVQ the base record), on up to
    /// <see cref="PackOptions.Threads"/> cores. Each task has its own writer and statistics and takes a scratch
    /// workspace no other item is using, so the result does not depend on the order; the first failure is rethrown
    /// as it was thrown (not wrapped).
    /// </summary>
    private void ForEachTask(int count, int n, Action<int, Workspace> encode)
    {
        ParallelWork.For(count, _threads, t =>
        {
            if (!_workspaces.TryTake(out var ws)) ws = new Workspace();
            try
            {
                ws.Ensure(n);
                encode(t, ws);
            }
            finally { _workspaces.Add(ws); }
        });
    }

    private sealed class Workspace
    {
        public float[] Scratch = [];
        public readonly float[] Tau = new float[QuantizedTensor.StreamBlockElements];
        public readonly QuantizeBuffers Quantize = new(0);

        public void Ensure(int n) => Grow(ref Scratch, n);
    }

    private static void Grow(ref float[] buffer, int n)
    {
        if (buffer.Length < n) buffer = new float[n];
    }

    /// <summary>Add-task: one task, against an existing base (dequantized, or null for FQ/TVQ or unquantized tensors).</summary>
    public void EncodeAgainstBase(TensorEntry entry, float[]? baseHat, BundleFileWriter writer)
    {
        if (entry.Storage == "full" || options.Scheme != Scheme.Rtvq)
        {
            Encode(entry, null, [writer]);
            return;
        }
        int n = Read(entry);
        var pre = _pre.AsMemory(0, n);
        var ft = _fts[0].AsMemory(0, n);
        Grow(ref _reference, n);
        var reference = _reference.AsMemory(0, n);
        TensorPrimitives.Add(baseHat!, pre.Span, reference.Span);   // θ_ec = Q(base) + θ_pre
        ForEachTask(1, n, (_, ws) =>
        {
            var q = TaskVectorSchemes.RtvqOffset(ft, reference, baseHat, options.OffsetBits!.Value, options.Mode, Account(0, pre, ft, ws), entry.Name,
                plans[0].Task.Source.Path, ws.Quantize);
            Write(writer, entry, q);
        });
    }

    /// <summary>The manifest's statistics of task <paramref name="t"/>, fed block by block in index order: τ = θ_t − θ_pre against τ̂.</summary>
    private QuantizedTensor.BlockSink Account(int t, ReadOnlyMemory<float> pre, ReadOnlyMemory<float> ft, Workspace ws) => (start, tauHat) =>
    {
        var tau = ws.Tau.AsSpan(0, tauHat.Length);
        TensorPrimitives.Subtract(ft.Span.Slice(start, tau.Length), pre.Span.Slice(start, tau.Length), tau);
        _stats[t].Add(tau, tauHat);
    };

    /// <summary>Reads θ_pre and every θ_t of <paramref name="entry"/> into the reused buffers, the sources on several cores; returns the element count.</summary>
    private int Read(TensorEntry entry)
    {
        long count = entry.ElementCount;
        if (count > Array.MaxLength) throw new InvalidDataException($"tensor '{entry.Name}' has {count} elements; more than one array can hold");
        int n = (int)count;
        Grow(ref _pre, n);
        for (int t = 0; t < _fts.Length; t++) Grow(ref _fts[t], n);
        // Item 0 is the pretrained checkpoint, item t + 1 task t; failures surface in that order only by chance, each names its file.
        ParallelWork.For(_fts.Length + 1, _threads, i =>
        {
            var (source, buffer) = i == 0 ? (pretrained, _pre) : (plans[i - 1].Task.Source, _fts[i - 1]);
            source.ReadFloat32(entry.Name, buffer.AsSpan(0, n));
            CheckFinite(buffer.AsSpan(0, n), entry.Name, source.Path);
        });
        return n;
    }

    private static void Write(BundleFileWriter w, TensorEntry e, QuantizedTensor q)
    {
        switch (q.Plan.Kind)
        {
            case QuantPlanKind.Affine: w.WriteQuantized(e.Name, e.Shape, q.Plan.Params, q.Packed.Span); break;
            case QuantPlanKind.Constant: w.WriteConstant(e.Name, e.Shape, q.Plan.ConstantValue); break;
            default: w.WriteFloat32(e.Name, e.Shape, [], ownTensor: false); break;
        }
    }

    public static void CheckFinite(ReadOnlySpan<float> v, string tensor, string file)
    {
        if (AllFinite(v)) return;
        for (int i = 0; i < v.Length; i++)
            if (!float.IsFinite(v[i]))
                throw new InvalidDataException($"{Path.GetFileName(file)}, tensor '{tensor}': element {i} is {v[i]}. Weights must be finite; re-export the checkpoint from a run that did not diverge.");
    }

    /// <summary>True when no element is NaN or ±Inf: x − x is 0 for every finite x and NaN otherwise, and a NaN stays in the sum.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static bool AllFinite(ReadOnlySpan<float> v)
    {
        if (!System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated) return false; // the scalar check decides
        ref float x = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(v);
        var sum = System.Runtime.Intrinsics.Vector256<float>.Zero;
        int i = 0;
        for (; i <= v.Length - 8; i += 8)
        {
            var e = System.Runtime.Intrinsics.Vector256.LoadUnsafe(ref x, (nuint)i);
            sum += e - e;
        }
        float s = System.Runtime.Intrinsics.Vector256.Sum(sum);
        for (; i < v.Length; i++) s += v[i] - v[i];
        return s == 0;
    }

    private sealed class StatsAccumulator
    {
        private double _sumSquares;
        private long _count, _zerosBefore, _zerosAfter;

        /// <summary>
        /// Σ(τ − τ̂)² in float64, element by element in index order (one dependency chain, so the sum is the same on
        /// any machine and thread count), plus the exact zeros counted with SIMD.
        /// </summary>
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        public void Add(ReadOnlySpan<float> tau, ReadOnlySpan<float> tauHat)
        {
            double sum = _sumSquares;
            for (int i = 0; i < tau.Length; i++)
            {
                double d = (double)tau[i] - tauHat[i];
                sum += d * d;
            }
            _sumSquares = sum;
            _zerosBefore += CountZeros(tau);
            _zerosAfter += CountZeros(tauHat);
            _count += tau.Length;
        }

        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        private static long CountZeros(ReadOnlySpan<float> v)
        {
            long zeros = 0;
            int i = 0;
            if (System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated)
            {
                ref float x = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(v);
                for (; i <= v.Length - 8; i += 8)
                {
                    var eq = System.Runtime.Intrinsics.Vector256.Equals(System.Runtime.Intrinsics.Vector256.LoadUnsafe(ref x, (nuint)i), System.Runtime.Intrinsics.Vector256<float>.Zero);
                    zeros += System.Numerics.BitOperations.PopCount(eq.ExtractMostSignificantBits());
                }
            }
            for (; i < v.Length; i++)
                if (v[i] == 0f) zeros++;
            return zeros;
        }

        public TaskStats ToStats() => new()
        {
            QuantizationError = _count == 0 ? 0 : Math.Sqrt(_sumSquares) / _count,
            SparsityBefore = _count == 0 ? 0 : (double)_zerosBefore / _count,
            SparsityAfter = _count == 0 ? 0 : (double)_zerosAfter / _count,
        };
    }
}
