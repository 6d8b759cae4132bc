using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;

namespace EdgeTvq.Eval;

/// <summary>
/// Statistics of the zoo's task vectors over the tensors the default policy quantizes (rank ≥ 2, no norms or
/// embeddings): value ranges of θ_ft and τ (Fig. 3), per-tensor ranges of τ and of the RTVQ offset (why RTVQ can
/// lose to TVQ2 on a task), and cosine similarities between task vectors before and after quantization (Fig. B).
/// </summary>
public static class Analysis
{
    public const int HistogramBins = 101;

    public static ZooAnalysis Run(Zoo zoo, IReadOnlyDictionary<string, Pack> packs)
    {
        using var pre = new CheckpointTensorSource(zoo.PretrainedCheckpoint);
        var quantized = pre.Tensors.Where(t => TensorPolicy.Default.Decide(t.Name, t.Shape, t.IsFloating) == TensorStorage.Quantized).ToList();
        var names = zoo.Tasks.Select(t => t.Name).ToList();
        var thetaPre = quantized.ToDictionary(t => t.Name, t => Read(pre, t));
        var finetuned = new List<Dictionary<string, float[]>>();
        var tau = new List<Dictionary<string, float[]>>();
        foreach (var task in zoo.Tasks)
        {
            using var src = new CheckpointTensorSource(task.Checkpoint);
            var ft = quantized.ToDictionary(t => t.Name, t => Read(src, t));
            finetuned.Add(ft);
            tau.Add(ft.ToDictionary(kv => kv.Key, kv => kv.Value.Select((v, i) => v - thetaPre[kv.Key][i]).ToArray()));
        }
        // The exact RTVQ base (mean task vector, before its own quantization) and each task's offset from it.
        var mean = quantized.ToDictionary(t => t.Name, t => Enumerable.Range(0, (int)t.ElementCount).Select(i => tau.Average(d => d[t.Name][i])).Select(v => (float)v).ToArray());

        var result = new ZooAnalysis { Zoo = zoo.Name, ZooKey = zoo.Key, Tasks = names };
        for (int t = 0; t < names.Count; t++)
        {
            var ftAll = finetuned[t].Values.SelectMany(v => v).ToArray();
            var tauAll = tau[t].Values.SelectMany(v => v).ToArray();
            double r = ftAll.Max(v => Math.Abs((double)v));
            var edges = Enumerable.Range(0, HistogramBins + 1).Select(i => -r + 2 * r * i / HistogramBins).ToArray();
            result.Ranges.Add(new RangeStats
            {
                Task = names[t],
                FinetunedMin = ftAll.Min(), FinetunedMax = ftAll.Max(), TaskVectorMin = tauAll.Min(), TaskVectorMax = tauAll.Max(),
                TaskVectorL2 = Math.Sqrt(tauAll.Sum(v => (double)v * v)),
                TaskVectorMeanTensorRange = tau[t].Values.Average(v => (double)v.Max() - v.Min()),
                OffsetMeanTensorRange = tau[t].Select(kv => kv.Value.Select((v, i) => v - mean[kv.Key][i]).ToArray()).Average(v => (double)v.Max() - v.Min()),
                HistogramEdges = edges, FinetunedHistogram = Histogram(ftAll, r), TaskVectorHistogram = Histogram(tauAll, r),
            });
        }
        var exact = tau.Select(d => Flatten(d, quantized)).ToList();
        result.Cosine["FP32"] = Cosine(exact);
        result.Norms["FP32"] = exact.Select(Norm).ToArray();
        foreach (var (id, pack) in packs)
        {
            if (pack.Scheme.IsFp32 || pack.Scheme.Options.Scheme == Format.Scheme.Fq) continue; // FQ decodes need θ_pre; its τ̂ is noise anyway
            var decoded = names.Select(n =>
            {
                var d = new Dictionary<string, float[]>();
                TaskDecoder.Decode(pack.Dir, pack.Manifest, TaskDecoder.FindTask(pack.Manifest, n), null, DecodeTarget.TaskVector, x =>
                {
                    if (!x.IsOwn && thetaPre.ContainsKey(x.Name)) d[x.Name] = x.Values;
                });
                return Flatten(d, quantized);
            }).ToList();
            result.Cosine[id] = Cosine(decoded);
            result.Norms[id] = decoded.Select(Norm).ToArray();
        }
        return result;
    }

    private static float[] Read(ITensorSource s, SourceTensor t)
    {
        var v = new float[t.ElementCount];
        s.ReadFloat32(t.Name, v);
        return v;
    }

    private static float[] Flatten(Dictionary<string, float[]> d, List<SourceTensor> order) => order.SelectMany(t => d[t.Name]).ToArray();

    private static double Norm(float[] v) => Math.Sqrt(v.Sum(x => (double)x * x));

    private static long[] Histogram(float[] values, double r)
    {
        var h = new long[HistogramBins];
        foreach (var v in values)
        {
            int b = (int)Math.Floor((v + r) / (2 * r) * HistogramBins);
            h[Math.Clamp(b, 0, HistogramBins - 1)]++;
        }
        return h;
    }

    private static double[][] Cosine(List<float[]> vectors)
    {
        int n = vectors.Count;
        var norms = vectors.Select(v => Math.Sqrt(System.Numerics.Tensors.TensorPrimitives.Dot(v, v))).ToArray();
        var m = new double[n][];
        for (int i = 0; i < n; i++)
        {
            m[i] = new double[n];
            for (int j = 0; j < n; j++)
                m[i][j] = System.Numerics.Tensors.TensorPrimitives.Dot(vectors[i], vectors[j]) / (norms[i] * norms[j]);
        }
        return m;
    }
}
