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

    public TaskStats[] Stats => _stats.Select(s => s.ToStats()).ToArray();

    /// <summary>Pack: encodes <paramref name="entry"/> for all tasks, computing the RTVQ base from them.</summary>
    public void Encode(TensorEntry entry, BundleFileWriter? baseWriter, IReadOnlyList<BundleFileWriter> writers)
    {
        var (pre, fts) = Read(entry);
        int n = pre.Length;
        if (entry.Storage == "full")
        {
            var tau = new float[n];
            for (int t = 0; t < fts.Length; t++)
            {
                TensorPrimitives.Subtract(fts[t], pre, tau);
                writers[t].WriteFloat32(entry.Name, entry.Shape, tau, ownTensor: false);
            }
            return;
        }
        if (options.Scheme == Scheme.Rtvq)
        {
            var baseHat = new float[n];
            var reference = new float[n];
            var qb = TaskVectorSchemes.RtvqBase(pre, fts, options.BaseBits!.Value, options.ErrorCorrection, options.Mode, baseHat, reference, entry.Name, "base vector");
            Write(baseWriter!, entry, qb);
            ForEachTask(fts.Length, n, (t, scratch, tauHat) =>
            {
                var q = TaskVectorSchemes.RtvqOffset(fts[t], reference, baseHat, options.OffsetBits!.Value, options.Mode, scratch, tauHat, entry.Name, plans[t].Task.Source.Path);
                Write(writers[t], entry, q);
                Account(t, pre, fts[t], tauHat, scratch);
            });
        }
        else
        {
            ForEachTask(fts.Length, n, (t, scratch, tauHat) => EncodeSingle(entry, pre, fts[t], t, writers[t], scratch, tauHat));
        }
    }

    /// <summary>
    /// Runs <paramref name="encode"/> for every task, on up to <see cref="PackOptions.Threads"/> cores. Each task has
    /// its own scratch buffers, writer and statistics, so the result does not depend on the order; the first failure
    /// is rethrown as it was thrown (not wrapped).
    /// </summary>
    private void ForEachTask(int tasks, int n, Action<int, float[], float[]> encode)
    {
        int threads = options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
        if (tasks == 1 || threads == 1)
        {
            var (scratch, tauHat) = (new float[n], new float[n]);
            for (int t = 0; t < tasks; t++) encode(t, scratch, tauHat);
            return;
        }
        try
        {
            Parallel.For(0, tasks, new ParallelOptions { MaxDegreeOfParallelism = threads },
                () => (Scratch: new float[n], TauHat: new float[n]),
                (t, _, buffers) => { encode(t, buffers.Scratch, buffers.TauHat); return buffers; },
                _ => { });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
    }

    /// <summary>Add-task: one task, against an existing base (dequantized, or null for FQ/TVQ or unquantized tensors).</summary>
    public void EncodeAgainstBase(TensorEntry entry, float[]? baseHat, BundleFileWriter writer)
    {
        if (entry.Storage == "full" || options.Scheme != Scheme.Rtvq)
        {
            Encode(entry, null, [writer]);
            return;
        }
        var (pre, fts) = Read(entry);
        int n = pre.Length;
        var reference = new float[n];
        TensorPrimitives.Add(baseHat!, pre, reference);   // θ_ec = Q(base) + θ_pre
        var tauHat = new float[n];
        var scratch = new float[n];
        var q = TaskVectorSchemes.RtvqOffset(fts[0], reference, baseHat, options.OffsetBits!.Value, options.Mode, scratch, tauHat, entry.Name, plans[0].Task.Source.Path);
        Write(writer, entry, q);
        Account(0, pre, fts[0], tauHat, scratch);
    }

    private void EncodeSingle(TensorEntry entry, float[] pre, float[] ft, int t, BundleFileWriter writer, float[] scratch, float[] tauHat)
    {
        string file = plans[t].Task.Source.Path;
        var q = options.Scheme == Scheme.Fq
            ? TaskVectorSchemes.Fq(pre, ft, options.Bits!.Value, options.Mode, tauHat, entry.Name, file)
            : TaskVectorSchemes.Tvq(pre, ft, options.Bits!.Value, options.Mode, scratch, tauHat, entry.Name, file);
        Write(writer, entry, q);
        Account(t, pre, ft, tauHat, scratch);
    }

    private void Account(int t, float[] pre, float[] ft, float[] tauHat, float[] scratch)
    {
        TensorPrimitives.Subtract(ft, pre, scratch); // τ
        _stats[t].Add(scratch, tauHat);
    }

    private (float[] Pre, float[][] Finetuned) Read(TensorEntry entry)
    {
        long n = entry.ElementCount;
        if (n > Array.MaxLength) throw new InvalidDataException($"tensor '{entry.Name}' has {n} elements; more than one array can hold");
        var pre = new float[n];
        pretrained.ReadFloat32(entry.Name, pre);
        CheckFinite(pre, entry.Name, pretrained.Path);
        var fts = new float[plans.Count][];
        for (int t = 0; t < plans.Count; t++)
        {
            fts[t] = new float[n];
            plans[t].Task.Source.ReadFloat32(entry.Name, fts[t]);
            CheckFinite(fts[t], entry.Name, plans[t].Task.Source.Path);
        }
        return (pre, fts);
    }

    private static void Write(BundleFileWriter w, TensorEntry e, QuantizedTensor q)
    {
        switch (q.Plan.Kind)
        {
            case QuantPlanKind.Affine: w.WriteQuantized(e.Name, e.Shape, q.Plan.Params, q.Packed); break;
            case QuantPlanKind.Constant: w.WriteConstant(e.Name, e.Shape, q.Plan.ConstantValue); break;
            default: w.WriteFloat32(e.Name, e.Shape, [], ownTensor: false); break;
        }
    }

    public static void CheckFinite(ReadOnlySpan<float> v, string tensor, string file)
    {
        for (int i = 0; i < v.Length; i++)
            if (!float.IsFinite(v[i]))
                throw new InvalidDataException($"{Path.GetFileName(file)}, tensor '{tensor}': element {i} is {v[i]}. Weights must be finite; re-export the checkpoint from a run that did not diverge.");
    }

    private sealed class StatsAccumulator
    {
        private double _sumSquares;
        private long _count, _zerosBefore, _zerosAfter;

        public void Add(ReadOnlySpan<float> tau, ReadOnlySpan<float> tauHat)
        {
            for (int i = 0; i < tau.Length; i++)
            {
                double d = (double)tau[i] - tauHat[i];
                _sumSquares += d * d;
                if (tau[i] == 0f) _zerosBefore++;
                if (tauHat[i] == 0f) _zerosAfter++;
            }
            _count += tau.Length;
        }

        public TaskStats ToStats() => new()
        {
            QuantizationError = _count == 0 ? 0 : Math.Sqrt(_sumSquares) / _count,
            SparsityBefore = _count == 0 ? 0 : (double)_zerosBefore / _count,
            SparsityAfter = _count == 0 ? 0 : (double)_zerosAfter / _count,
        };
    }
}
