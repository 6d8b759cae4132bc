using System.Numerics.Tensors;
using EdgeTvq.Bundle;

namespace EdgeTvq.Merging.Streaming;

/// <summary>
/// The general streaming path beside the fused one: for every method that is not a weighted sum of dequantized codes.
/// Runs the method's statistic passes and then a merge pass over the bundle (<see cref="TaskVectorStream"/>), each
/// reading the selected tasks' files (and the RTVQ base, unless cached) front to back with every record and file
/// checked; the merge pass forms θ = θ_pre + Δ tensor by tensor in the output weight set. Memory: the merged
/// weights, T + 2 buffers of the largest tensor, and the method's statistics — never the task vectors of the whole model.
/// </summary>
internal static class GeneralMerger
{
    /// <param name="custom">the method to run instead of the recipe's (<see cref="BundleMerger.MergeWith"/>); the recipe then only selects tasks and the served task</param>
    public static MergeResult Merge(string bundleDir, BundleManifest m, ITensorSource pretrained, MergeRecipe recipe, PackProgress? progress, MergeCache? cache, WeightSet? reuse,
        StreamingMethod? custom = null)
    {
        var taskNames = recipe.SelectedTasks;
        if (taskNames.Count == 0) { reuse?.Dispose(); throw new ArgumentException("the merge recipe selects no task"); }
        List<TaskEntry> tasks;
        StreamingMethod method;
        try
        {
            tasks = taskNames.Select(t => TaskDecoder.FindTask(m, t)).ToList();
            method = custom ?? StreamingMethod.Create(recipe, taskNames);
        }
        catch
        {
            reuse?.Dispose();
            throw;
        }
        string emrKey = string.Join('\n', taskNames);
        if (method is EmrStreaming emr && cache is not null && cache.EmrRescalers.TryGetValue(emrKey, out var rescalers)) emr.Rescalers = rescalers;
        var stored = m.Tensors.Where(e => e.Storage != "skipped").ToList();
        int capacity = (int)stored.Select(e => e.ElementCount).DefaultIfEmpty(0).Max();
        var vectors = new TaskVectors(tasks.Count, capacity);
        int passes = method.StatisticPasses + 1; // fixed before the first pass (EMR's rescalers may come from the cache)
        string Phase(int pass) => passes == 1 ? "merging" : pass < passes - 1 ? $"statistics, pass {pass + 1} of {passes}" : $"merging, pass {passes} of {passes}";

        var layout = stored.Select(e => (e.Name, e.Shape)).ToList();
        bool refill = reuse is not null && reuse.HasLayout(layout);
        if (!refill) reuse?.Dispose();
        var weights = refill ? reuse! : WeightSet.Allocate(layout);
        var own = new Dictionary<string, WeightSet>();
        var blobs = new Dictionary<string, Dictionary<string, byte[]>>();
        WeightSet? newBase = null;
        try
        {
            for (int pass = 0; pass < passes; pass++)
            {
                bool merge = pass == passes - 1;
                if (cache is { KeepsBase: true, Base: null } && m.Base is not null)
                    newBase = WeightSet.Allocate(stored.Where(e => e.Storage == "quantized").Select(e => (e.Name, e.Shape)).ToList());
                using var stream = new TaskVectorStream(bundleDir, m, pretrained, tasks, vectors, cache?.Base, newBase);
                var delta = merge ? new float[capacity] : [];
                while (stream.MoveNext())
                {
                    var tensor = stream.Current;
                    progress?.Invoke(Phase(pass), tensor.Index, stored.Count);
                    if (!merge)
                    {
                        method.Observe(pass, tensor, vectors);
                        continue;
                    }
                    var d = delta.AsSpan(0, tensor.Length);
                    d.Clear();
                    method.Merge(tensor, vectors, d);
                    var dst = weights.Span(tensor.Name);
                    pretrained.ReadFloat32(tensor.Name, dst);
                    TensorPrimitives.Add(dst, d, dst);
                }
                stream.Finish(merge ? t => recipe.Task is null || t == recipe.Task : null, merge ? own : null, merge ? blobs : null);
                if (newBase is not null) { cache!.Base = newBase; newBase = null; }
                if (!merge)
                {
                    method.EndPass(pass);
                    if (method is EmrStreaming e && cache is not null) cache.EmrRescalers[emrKey] = e.Rescalers;
                }
                else
                {
                    progress?.Invoke(Phase(pass), stored.Count, stored.Count);
                    return new MergeResult(weights, own, stream.Metadata.Where(kv => own.ContainsKey(kv.Key)).ToDictionary(), blobs);
                }
            }
            throw new InvalidOperationException("unreachable: the merge pass returns");
        }
        catch
        {
            newBase?.Dispose();
            weights.Dispose();
            foreach (var w in own.Values) w.Dispose();
            throw;
        }
    }
}
