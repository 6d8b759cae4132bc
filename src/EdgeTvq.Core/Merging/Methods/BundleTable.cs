using EdgeTvq.Bundle;
using EdgeTvq.Format;

namespace EdgeTvq.Merging.Methods;

/// <summary>
/// Every task of a bundle decoded into memory: the tensor table of the in-memory methods (τ̂_t per table tensor,
/// tasks in manifest order) and each task's own tensors (its head). For offline methods on a workstation; the device
/// merges streaming instead (<see cref="BundleMerger"/>).
/// </summary>
public sealed record BundleTable(IReadOnlyList<string> Tasks, IReadOnlyList<TaskTensor> Table, IReadOnlyDictionary<string, IReadOnlyList<DecodedTensor>> Own)
{
    /// <summary>
    /// Decodes every task (<paramref name="pretrained"/>, needed for FQ, is checked against the bundle when given);
    /// <paramref name="progress"/> gets (task index, task count) after each task.
    /// </summary>
    public static BundleTable Decode(string bundleDir, ITensorSource? pretrained, Action<int, int>? progress = null)
    {
        var m = ManifestIO.Load(bundleDir);
        // Checked once here; only FQ needs θ_pre to decode, so the others decode without re-reading it per task.
        if (pretrained is not null) TaskDecoder.CheckIdentity(pretrained, m);
        var forDecode = ManifestIO.OptionsOf(m).Scheme == Scheme.Fq ? pretrained : null;
        var entries = m.Tensors.Where(e => e.Storage != "skipped").ToList();
        var tau = entries.ToDictionary(e => e.Name, _ => new float[m.Tasks.Count][], StringComparer.Ordinal);
        var own = new Dictionary<string, IReadOnlyList<DecodedTensor>>(StringComparer.Ordinal);
        for (int t = 0; t < m.Tasks.Count; t++)
        {
            var task = m.Tasks[t];
            var mine = new List<DecodedTensor>();
            TaskDecoder.Decode(bundleDir, m, task, forDecode, DecodeTarget.TaskVector, d =>
            {
                if (d.IsOwn) mine.Add(d);
                else tau[d.Name][t] = d.Values;
            });
            own[task.Name] = mine;
            progress?.Invoke(t + 1, m.Tasks.Count);
        }
        var table = entries.Select(e => new TaskTensor(e.Name, e.Shape, tau[e.Name])).ToList();
        return new BundleTable(m.Tasks.Select(t => t.Name).ToList(), table, own);
    }

    public int TaskIndex(string name)
    {
        for (int i = 0; i < Tasks.Count; i++) if (Tasks[i] == name) return i;
        throw new ArgumentException($"task '{name}' is not in this bundle; it has: {string.Join(", ", Tasks)}");
    }
}
