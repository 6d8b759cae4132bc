using System.Text;
using EdgeTvq.Format;
using EdgeTvq.Packing;
using EdgeTvq.Quantization;

namespace EdgeTvq.Bundle;

/// <summary>
/// What the budget allocation chose and why: the budget, the bytes it predicted (exact, checked against the files
/// written), the weighted error, which start won, and every tensor's menu.
/// </summary>
public sealed record BudgetAllocation(long BudgetBytes, long PredictedBytes, long FixedBytes, double Error, string Start,
    IReadOnlyList<TensorMenu> Menus, int[] Choice, Scheme Scheme)
{
    /// <summary>Configuration k as widths: fq/tvq (b, null); rtvq (b_b, b_o).</summary>
    public static (int First, int? Second) Widths(Scheme scheme, int k) => scheme == Scheme.Rtvq ? (k / 8 + 1, k % 8 + 1) : (k + 1, null);

    /// <summary>The uniform configuration with the least weighted error among those within <paramref name="bytes"/>; null when none fits.</summary>
    public (int Config, long Bytes, double Error)? BestUniform(long bytes)
    {
        (int, long, double)? best = null;
        int k = Menus.Count == 0 ? 0 : Menus[0].Cost.Length;
        for (int u = 0; u < k; u++)
        {
            var c = Enumerable.Repeat(u, Menus.Count).ToArray();
            long b = BitAllocator.Bytes(Menus, c, FixedBytes);
            double e = BitAllocator.Error(Menus, c);
            if (b <= bytes && (best is null || e < best.Value.Item3)) best = (u, b, e);
        }
        return best;
    }
}

/// <summary>
/// <c>pack --budget</c>: measures, for every quantized tensor and every width configuration, the exact bytes of its
/// records and the squared error Σ_t ‖τ_t − τ̂_t‖² of the scheme (the same quantizer calls the packer then makes, so
/// the numbers are those of the bundle), weights it by the tensor's sensitivity (1 unless given), and lets
/// <see cref="BitAllocator"/> choose. The budget counts every byte of the base file and the task files except the
/// task's own tensors and blobs (its head, which is not part of the task vector): headers, trailers, metadata
/// records, float32 tensors, record headers, scales and zero points included.
/// </summary>
public static class BudgetPlanner
{
    /// <summary>Bytes of one record: fixed part, name, dimensions, payload, checksum (docs/bundle-format.md §4.2).</summary>
    public static long RecordBytes(string name, int rank, long payload) =>
        FormatConstants.RecordFixedSize + Encoding.UTF8.GetByteCount(name) + 8L * rank + payload + FormatConstants.RecordChecksumSize;

    /// <summary>The budget in bytes: --budget-bytes as given, or --budget B as ⌊B · P · T / 8⌋ with P the stored (non-skipped) parameters.</summary>
    public static long BudgetBytes(PackOptions o, IReadOnlyList<TensorEntry> table, int tasks)
    {
        if (o.BudgetBytes is { } bytes) return bytes;
        long p = table.Where(e => e.Storage != "skipped").Sum(e => e.ElementCount);
        return (long)Math.Floor(o.BudgetBits!.Value * p * tasks / 8.0);
    }

    /// <summary>Bytes of the task's own tensors and blobs: in its file, outside the budget.</summary>
    internal static long OwnBytes(TaskPlan plan) =>
        plan.Own.Sum(t => RecordBytes(t.Name, t.Shape.Length, 4 * t.ElementCount)) + plan.Blobs.Sum(b => RecordBytes(b.Name, 1, b.Bytes.LongLength));

    internal static BudgetAllocation Plan(ITensorSource pretrained, List<TensorEntry> table, IReadOnlyList<TaskPlan> plans, PackOptions o, PackProgress? progress)
    {
        int T = plans.Count;
        long budget = BudgetBytes(o, table, T);
        // Fixed: file headers and trailers, metadata records, float32 tensors, empty quantized tensors (kind 3, no payload).
        long fixedBytes = (long)(T + (o.Scheme == Scheme.Rtvq ? 1 : 0)) * (FormatConstants.HeaderSize + FormatConstants.TrailerSize);
        foreach (var p in plans) fixedBytes += RecordBytes(FormatConstants.MetadataRecordName, 0, ManifestIO.SerializeMetadata(p.Metadata).LongLength);
        var measured = new List<TensorEntry>();
        foreach (var e in table)
        {
            if (e.Storage == "full") fixedBytes += T * RecordBytes(e.Name, e.Shape.Length, 4 * e.ElementCount);
            else if (e.Storage == "quantized" && e.ElementCount == 0) fixedBytes += (T + (o.Scheme == Scheme.Rtvq ? 1 : 0)) * RecordBytes(e.Name, e.Shape.Length, 0);
            else if (e.Storage == "quantized") measured.Add(e);
        }
        int threads = ParallelWork.Threads(o.Threads);
        var menus = new List<TensorMenu>();
        for (int i = 0; i < measured.Count; i++)
        {
            progress?.Invoke("measuring the error of every width", i, measured.Count);
            var e = measured[i];
            double weight = 1;
            if (o.Sensitivity is { } s && s.TryGetValue(e.Name, out double w)) weight = w;
            menus.Add(Measure(e, pretrained, plans, o, threads, weight));
        }
        progress?.Invoke("measuring the error of every width", measured.Count, measured.Count);
        var choice = BitAllocator.Allocate(menus, fixedBytes, budget);
        return new BudgetAllocation(budget, choice.Bytes, fixedBytes, choice.Error, choice.Start, menus, choice.Choice, o.Scheme);
    }

    /// <summary>Sets each measured tensor's widths in the table and returns the options with the bundle-wide widths: those holding the most parameters.</summary>
    internal static PackOptions Apply(BudgetAllocation a, List<TensorEntry> table, PackOptions o)
    {
        var byName = table.ToDictionary(e => e.Name, StringComparer.Ordinal);
        var first = new long[9];
        var second = new long[9];
        for (int i = 0; i < a.Menus.Count; i++)
        {
            var e = byName[a.Menus[i].Name];
            var (b1, b2) = BudgetAllocation.Widths(a.Scheme, a.Choice[i]);
            if (a.Scheme == Scheme.Rtvq) (e.BaseBits, e.OffsetBits) = (b1, b2);
            else e.Bits = b1;
            first[b1] += e.ElementCount;
            if (b2 is { } x) second[x] += e.ElementCount;
        }
        static int Most(long[] counts) => Enumerable.Range(1, 8).OrderByDescending(b => counts[b]).ThenBy(b => b).First();
        return a.Scheme == Scheme.Rtvq
            ? o with { BaseBits = Most(first), OffsetBits = Most(second), BudgetBits = null, BudgetBytes = null }
            : o with { Bits = Most(first), BudgetBits = null, BudgetBytes = null };
    }

    private static TensorMenu Measure(TensorEntry e, ITensorSource pretrained, IReadOnlyList<TaskPlan> plans, PackOptions o, int threads, double weight)
    {
        int n = (int)e.ElementCount, T = plans.Count;
        var pre = new float[n];
        pretrained.ReadFloat32(e.Name, pre);
        TensorEncoder.CheckFinite(pre, e.Name, pretrained.Path);
        var fts = new float[T][];
        ParallelWork.For(T, threads, t =>
        {
            fts[t] = new float[n];
            plans[t].Task.Source.ReadFloat32(e.Name, fts[t]);
            TensorEncoder.CheckFinite(fts[t], e.Name, plans[t].Task.Source.Path);
        });
        long RecordOf(QuantizedTensor q) => RecordBytes(e.Name, e.Shape.Length, q.PayloadBytes); // group scales and zero points included
        // Σ ((double)τ − (double)τ̂)² with τ = θ_t − θ_pre in float32, as the manifest's statistics count it.
        QuantizedTensor.BlockSink ErrorSink(float[] ft, double[] sum, int slot) => (start, hat) =>
        {
            double s = 0;
            for (int j = 0; j < hat.Length; j++)
            {
                float tau = ft[start + j] - pre[start + j];
                double d = (double)tau - hat[j];
                s += d * d;
            }
            sum[slot] += s;
        };
        var preMemory = (ReadOnlyMemory<float>)pre;
        var ftMemory = fts.Select(f => (ReadOnlyMemory<float>)f).ToArray();

        if (o.Scheme != Scheme.Rtvq)
        {
            var cost = new long[8 * T];
            var error = new double[8 * T];
            ParallelWork.For(8 * T, threads, item =>
            {
                int b = item / T + 1, t = item % T;
                var buffers = new QuantizeBuffers(0);
                var q = o.Scheme == Scheme.Fq
                    ? TaskVectorSchemes.Fq(preMemory, ftMemory[t], b, o.Mode, ErrorSink(fts[t], error, item), e.Name, plans[t].Task.Source.Path, buffers, o.TaskGroupOf(e))
                    : TaskVectorSchemes.Tvq(preMemory, ftMemory[t], b, o.Mode, ErrorSink(fts[t], error, item), e.Name, plans[t].Task.Source.Path, buffers, o.TaskGroupOf(e));
                cost[item] = RecordOf(q);
            });
            return new TensorMenu(e.Name, n,
                Enumerable.Range(0, 8).Select(k => Enumerable.Range(0, T).Sum(t => cost[k * T + t])).ToArray(),
                Enumerable.Range(0, 8).Select(k => weight * Enumerable.Range(0, T).Sum(t => error[k * T + t])).ToArray());
        }

        var rCost = new long[64];
        var rError = new double[64];
        ParallelWork.For(8, threads, bb =>
        {
            var baseHat = new float[n];
            var reference = new float[n];
            var baseVector = new float[n];
            var qb = TaskVectorSchemes.RtvqBase(preMemory, ftMemory, bb + 1, o.ErrorCorrection, o.Mode, baseHat, reference, baseVector, e.Name, "base vector",
                group: PackOptions.BaseGroupOf(e));
            long baseCost = RecordOf(qb);
            var buffers = new QuantizeBuffers(0);
            for (int bo = 0; bo < 8; bo++)
            {
                var err = new double[T];
                long c = baseCost;
                for (int t = 0; t < T; t++)
                    c += RecordOf(TaskVectorSchemes.RtvqOffset(ftMemory[t], reference, baseHat, bo + 1, o.Mode, ErrorSink(fts[t], err, t), e.Name, plans[t].Task.Source.Path, buffers, o.TaskGroupOf(e)));
                rCost[bb * 8 + bo] = c;
                rError[bb * 8 + bo] = weight * err.Sum();
            }
        });
        return new TensorMenu(e.Name, n, rCost, rError);
    }
}
