using System.Runtime.Intrinsics;
using System.Numerics.Tensors;
using EdgeTvq.Format;
using EdgeTvq.Quantization;

namespace EdgeTvq.Bundle;

/// <summary>
/// Encodes one table tensor for every task being packed (and the RTVQ base) and writes the records, while
/// accumulating each task's quantization error and sparsity for the manifest.
/// </summary>
internal sealed class TensorEncoder(PackOptions options, ITensorSource pretrained, IReadOnlyList<TaskPlan> plans, PretrainedIdentity? identity = null)
{
    // Pack: θ_pre of each tensor, as read for encoding, is appended to the identity hash beside the encoding of the
    // tensor (the hash is a stream in table order, the order tensors are encoded in).
    private Task? _hashing;

    private readonly StatsAccumulator[] _stats = plans.Select(_ => new StatsAccumulator()).ToArray();
    private readonly int _threads = ParallelWork.Threads(options.Threads);
    // Buffers reused from tensor to tensor (grown to the largest): θ_pre, every θ_t, and the RTVQ base's.
    private float[] _pre = [], _baseHat = [], _reference = [], _baseVector = [];
    private readonly float[][] _fts = plans.Select(_ => Array.Empty<float>()).ToArray();
    private readonly float[][] _tauHats = plans.Select(_ => Array.Empty<float>()).ToArray();
    private readonly QuantizeBuffers _baseBuffers = new(0);
    // One set of per-task scratch buffers for each task encoded at the same time.
    private readonly System.Collections.Concurrent.ConcurrentBag<Workspace> _workspaces = [];

    /// <summary>The pretrained identity, once every stored tensor has been encoded.</summary>
    public byte[] FinishIdentity()
    {
        WaitForHashing();
        return identity!.Finish();
    }

    /// <summary>
    /// Waits for a hash still running. Called when packing ends, also after a failure: the failure is what the caller
    /// reports, and a hash failing then is only its consequence, so it is not rethrown here.
    /// </summary>
    public void StopHashing()
    {
        try { WaitForHashing(); }
        catch (Exception) { }
    }

    private void WaitForHashing()
    {
        var hashing = _hashing;
        _hashing = null;
        hashing?.GetAwaiter().GetResult();
    }

    public TaskStats[] Stats => _stats.Select(s => s.ToStats()).ToArray();

    /// <summary>Pack: encodes <paramref name="entry"/> for all tasks, computing the RTVQ base from them.</summary>
    public void Encode(TensorEntry entry, BundleFileWriter? baseWriter, IReadOnlyList<BundleFileWriter> writers)
    {
        int n = Read(entry);
        if (identity is not null)
        {
            var (name, shape, values) = (entry.Name, entry.Shape, _pre);
            if (_threads == 1) identity.Append(name, shape, values.AsSpan(0, n));
            else _hashing = Task.Run(() => identity.Append(name, shape, values.AsSpan(0, n)));
        }
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
            var qb = TaskVectorSchemes.RtvqBase(pre, fts, options.BaseBitsOf(entry), options.ErrorCorrection, options.Mode, baseHat, reference, _baseVector,
                entry.Name, "base vector", _baseBuffers, _threads, PackOptions.BaseGroupOf(entry));
            // The base record is written beside the tasks' work (item T).
            ForEachTask(fts.Length + 1, n, (t, ws) =>
            {
                if (t == fts.Length)
                {
                    Write(baseWriter!, entry, qb);
                    return;
                }
                var q = TaskVectorSchemes.RtvqOffset(fts[t], reference, baseHat, options.TaskBitsOf(entry), options.Mode, Keep(t),
                    entry.Name, plans[t].Task.Source.Path, ws.Quantize, options.TaskGroupOf(entry));
                Write(writers[t], entry, q);
            });
            AccountAll(n);
        }
        else
        {
            ForEachTask(fts.Length, n, (t, ws) =>
            {
                string file = plans[t].Task.Source.Path;
                var q = options.Scheme == Scheme.Fq
                    ? TaskVectorSchemes.Fq(pre, fts[t], options.TaskBitsOf(entry), options.Mode, Keep(t), entry.Name, file, ws.Quantize, options.TaskGroupOf(entry))
                    : TaskVectorSchemes.Tvq(pre, fts[t], options.TaskBitsOf(entry), options.Mode, Keep(t), entry.Name, file, ws.Quantize, options.TaskGroupOf(entry));
                Write(writers[t], entry, q);
            });
            AccountAll(n);
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
            var q = TaskVectorSchemes.RtvqOffset(ft, reference, baseHat, options.TaskBitsOf(entry), options.Mode, Keep(0), entry.Name,
                plans[0].Task.Source.Path, ws.Quantize, options.TaskGroupOf(entry));
            Write(writer, entry, q);
        });
        AccountAll(n);
    }

    /// <summary>Keeps τ̂ of task <paramref name="t"/> for <see cref="AccountAll"/>.</summary>
    private QuantizedTensor.BlockSink Keep(int t) => (start, tauHat) => tauHat.CopyTo(_tauHats[t].AsSpan(start));

    /// <summary>
    /// The manifest's statistics, τ = θ_t − θ_pre against τ̂_t, for every task of the tensor just encoded. Each task's
    /// error is one float64 sum in index order (the same on any machine or thread count); the sums of up to four tasks
    /// advance in one loop so that their additions overlap.
    /// </summary>
    private void AccountAll(int n)
    {
        int tasks = _stats.Length;
        int group = Math.Clamp((tasks + _threads - 1) / _threads, 1, StatsAccumulator.Lanes);
        ParallelWork.For((tasks + group - 1) / group, _threads, g =>
        {
            int first = g * group, count = Math.Min(group, tasks - first);
            StatsAccumulator.Add(_stats.AsSpan(first, count), _pre.AsSpan(0, n), _fts.AsSpan(first, count), _tauHats.AsSpan(first, count), n);
        });
    }

    /// <summary>Reads θ_pre and every θ_t of <paramref name="entry"/> into the reused buffers, the sources on several cores; returns the element count.</summary>
    private int Read(TensorEntry entry)
    {
        long count = entry.ElementCount;
        if (count > Array.MaxLength) throw new InvalidDataException($"tensor '{entry.Name}' has {count} elements; more than one array can hold");
        int n = (int)count;
        WaitForHashing(); // it reads θ_pre of the previous tensor
        Grow(ref _pre, n);
        for (int t = 0; t < _fts.Length; t++)
        {
            Grow(ref _fts[t], n);
            Grow(ref _tauHats[t], n);
        }
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
        if (q.Groups is { } groups)
        {
            w.WriteGrouped(e.Name, e.Shape, groups, q.Packed.Span);
            return;
        }
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

        public const int Lanes = 4;
        private const int Block = 1024;

        /// <summary>
        /// Adds τ = θ_t − θ_pre (float32) against τ̂_t for up to <see cref="Lanes"/> tasks: per task Σ (τ − τ̂)² with each
        /// term (double)τ − (double)τ̂ squared in float64 and added in index order, exactly as one scalar loop per
        /// task would; the terms are computed with SIMD and the tasks' sums interleaved. Zeros are counted exactly.
        /// </summary>
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        public static void Add(ReadOnlySpan<StatsAccumulator> stats, ReadOnlySpan<float> pre, ReadOnlySpan<float[]> fts, ReadOnlySpan<float[]> tauHats, int n)
        {
            Span<double> squares = stackalloc double[Lanes * Block]; // lanes without a task stay 0 and their sums are dropped
            squares.Clear();
            Span<double> sums = stackalloc double[Lanes];
            for (int k = 0; k < stats.Length; k++) sums[k] = stats[k]._sumSquares; // each task's running sum goes on
            double s0 = sums[0], s1 = sums[1], s2 = sums[2], s3 = sums[3];
            for (int start = 0; start < n; start += Block)
            {
                int count = Math.Min(Block, n - start);
                for (int k = 0; k < stats.Length; k++)
                    stats[k].Terms(pre.Slice(start, count), fts[k].AsSpan(start, count), tauHats[k].AsSpan(start, count), squares.Slice(k * Block, count));
                ReadOnlySpan<double> q0 = squares[..count], q1 = squares.Slice(Block, count), q2 = squares.Slice(2 * Block, count), q3 = squares.Slice(3 * Block, count);
                for (int i = 0; i < q0.Length; i++)
                {
                    s0 += q0[i];
                    s1 += q1[i];
                    s2 += q2[i];
                    s3 += q3[i];
                }
            }
            (sums[0], sums[1], sums[2], sums[3]) = (s0, s1, s2, s3);
            for (int k = 0; k < stats.Length; k++)
            {
                stats[k]._sumSquares = sums[k];
                stats[k]._count += n;
            }
        }

        /// <summary>The terms ((double)τ − (double)τ̂)², τ = θ_t − θ_pre in float32, of one block; counts the zeros of τ and τ̂.</summary>
        private void Terms(ReadOnlySpan<float> pre, ReadOnlySpan<float> ft, ReadOnlySpan<float> tauHat, Span<double> squares)
        {
            int i = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                ref float p = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(pre);
                ref float f = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(ft);
                ref float h = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(tauHat);
                ref double q = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(squares);
                for (; i <= ft.Length - 8; i += 8)
                {
                    var tau = Vector256.LoadUnsafe(ref f, (nuint)i) - Vector256.LoadUnsafe(ref p, (nuint)i);
                    var hat = Vector256.LoadUnsafe(ref h, (nuint)i);
                    _zerosBefore += System.Numerics.BitOperations.PopCount(Vector256.Equals(tau, Vector256<float>.Zero).ExtractMostSignificantBits());
                    _zerosAfter += System.Numerics.BitOperations.PopCount(Vector256.Equals(hat, Vector256<float>.Zero).ExtractMostSignificantBits());
                    var (tauLo, tauHi) = Vector256.Widen(tau);
                    var (hatLo, hatHi) = Vector256.Widen(hat);
                    var dLo = tauLo - hatLo;
                    var dHi = tauHi - hatHi;
                    (dLo * dLo).StoreUnsafe(ref q, (nuint)i);
                    (dHi * dHi).StoreUnsafe(ref q, (nuint)(i + 4));
                }
            }
            for (; i < ft.Length; i++)
            {
                float tau = ft[i] - pre[i];
                double d = (double)tau - tauHat[i];
                squares[i] = d * d;
                if (tau == 0f) _zerosBefore++;
                if (tauHat[i] == 0f) _zerosAfter++;
            }
        }

        public TaskStats ToStats() => new()
        {
            QuantizationError = _count == 0 ? 0 : Math.Sqrt(_sumSquares) / _count,
            SparsityBefore = _count == 0 ? 0 : (double)_zerosBefore / _count,
            SparsityAfter = _count == 0 ? 0 : (double)_zerosAfter / _count,
        };
    }
}
