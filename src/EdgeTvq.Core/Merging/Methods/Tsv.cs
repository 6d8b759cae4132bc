using EdgeTvq.Merging.Linear;

namespace EdgeTvq.Merging.Methods;

/// <summary>
/// Task Singular Vectors (Gargiulo et al., CVPR 2025), as in the reference code (AntoAndGar/task_singular_vectors):
/// <list type="bullet">
/// <item><b>TSV-Merge</b>: for each 2-D tensor (m×n, r = min(m, n)) take the thin SVD τ_t = U_t·diag(s_t)·V_tᵀ of
/// every task, keep k = ⌊r/T⌋ components per task and concatenate them task by task: Û = [U_1[:, :k] … U_T[:, :k]],
/// ŝ, V̂ᵀ = [V_1ᵀ[:k] ; … ; V_Tᵀ[:k]]. Orthogonalise both by their polar factors (P = U_svd·Vh_svd of the SVD of Û and
/// of V̂ᵀ) and return τ_M = P_Û·diag(ŝ)·P_V̂ᵀ; θ = θ_pre + α·τ_M (α = 1 as in FusionBench). Every other tensor (and,
/// as in the reference, CLIP's text_projection) is the mean of the task vectors, also scaled by α.</item>
/// <item><b>TSV-Compress</b>: per task, the same 2-D tensors are replaced by their best rank-k approximation
/// U_t[:, :k]·diag(s_t[:k])·V_tᵀ[:k]; every other tensor is left as it is.</item>
/// </list>
/// When r &lt; T, k = 0 and a 2-D tensor merges (and compresses) to zero, as in the reference.
/// The reference zero-pads Û to r columns before orthogonalising; the first T·k columns of that polar factor are the
/// polar factor of Û itself (the zero columns only add an arbitrary orthonormal complement, multiplied by ŝ = 0), so
/// the compact form here gives the same τ_M whenever Û has full column rank.
/// Arithmetic is double precision (<see cref="Svd"/>); results are float32.
/// </summary>
public static class Tsv
{
    public const float DefaultAlpha = 1f;

    /// <summary>Whether a tensor is treated as a matrix (SVD) rather than element-wise: 2-D and not a text projection.</summary>
    public static bool IsLowRank(string name, IReadOnlyList<long> shape) =>
        shape.Count == 2 && !name.Contains("text_projection", StringComparison.Ordinal);

    /// <summary>k = ⌊min(m, n)/T⌋, the components kept per task.</summary>
    public static int ComponentsPerTask(IReadOnlyList<long> shape, int tasks) =>
        tasks <= 0 ? throw new ArgumentOutOfRangeException(nameof(tasks)) : (int)(Math.Min(shape[0], shape[1]) / tasks);

    /// <summary>TSV-Merge over a whole tensor table: Δ per tensor (θ = θ_pre + Δ).</summary>
    public static float[][] Merge(IReadOnlyList<TaskTensor> table, float alpha = DefaultAlpha)
    {
        Table.Validate(table);
        var delta = new float[table.Count][];
        for (int n = 0; n < table.Count; n++) delta[n] = MergeTensor(table[n], alpha);
        return delta;
    }

    /// <summary>TSV-Compress of task <paramref name="task"/> over a whole table: its compressed τ per tensor.</summary>
    public static float[][] Compress(IReadOnlyList<TaskTensor> table, int task)
    {
        int tasks = Table.Validate(table);
        if ((uint)task >= (uint)tasks) throw new ArgumentOutOfRangeException(nameof(task), $"task {task} of {tasks}");
        var result = new float[table.Count][];
        for (int n = 0; n < table.Count; n++) result[n] = CompressTensor(table[n], task);
        return result;
    }

    /// <summary>TSV-Merge of one tensor: α·τ_M for a matrix, α·mean_t τ_t otherwise.</summary>
    public static float[] MergeTensor(TaskTensor t, float alpha = DefaultAlpha)
    {
        int tasks = Table.Validate([t]);
        var result = new float[t.Length];
        if (!IsLowRank(t.Name, t.Shape))
        {
            for (int i = 0; i < result.Length; i++)
            {
                double sum = 0;
                foreach (var tau in t.Tau) sum += tau[i];
                result[i] = (float)(alpha * (sum / tasks));
            }
            return result;
        }

        var (m, n) = Dims(t);
        int k = ComponentsPerTask(t.Shape, tasks);
        if (k == 0) return result;
        int width = tasks * k;
        var uCat = new double[(long)m * width];   // m × T·k
        var sCat = new double[width];
        var vtCat = new double[(long)width * n];  // T·k × n
        for (int task = 0; task < tasks; task++)
        {
            var d = Named(t, $"task {task}", () => Svd.Decompose(t.Tau[task], m, n));
            int r = d.Rank;
            for (int i = 0; i < m; i++)
                for (int j = 0; j < k; j++) uCat[(long)i * width + task * k + j] = d.U[(long)i * r + j];
            Array.Copy(d.S, 0, sCat, task * k, k);
            Array.Copy(d.Vt, 0, vtCat, (long)task * k * n, (long)k * n);
        }
        var pu = Named(t, "orthogonalising U", () => Svd.PolarFactor(uCat, m, width));
        var pv = Named(t, "orthogonalising V", () => Svd.PolarFactor(vtCat, width, n));
        var row = new double[n];
        for (int i = 0; i < m; i++)
        {
            Array.Clear(row);
            for (int j = 0; j < width; j++)
            {
                double w = pu[(long)i * width + j] * sCat[j];
                if (w != 0) SvdResult.Axpy(w, pv.AsSpan(j * n, n), row);
            }
            for (int c = 0; c < n; c++) result[(long)i * n + c] = (float)(alpha * row[c]);
        }
        return result;
    }

    /// <summary>TSV-Compress of one tensor for one task: the rank-k approximation of τ_task, or τ_task as it is.</summary>
    public static float[] CompressTensor(TaskTensor t, int task)
    {
        int tasks = Table.Validate([t]);
        if ((uint)task >= (uint)tasks) throw new ArgumentOutOfRangeException(nameof(task), $"task {task} of {tasks}");
        if (!IsLowRank(t.Name, t.Shape)) return (float[])t.Tau[task].Clone();
        var (m, n) = Dims(t);
        int k = ComponentsPerTask(t.Shape, tasks);
        var result = new float[t.Length];
        if (k == 0) return result;
        var low = Named(t, $"task {task}", () => Svd.Decompose(t.Tau[task], m, n)).Reconstruct(k);
        for (int i = 0; i < result.Length; i++) result[i] = (float)low[i];
        return result;
    }

    private static (int Rows, int Cols) Dims(TaskTensor t) =>
        (checked((int)t.Shape[0]), checked((int)t.Shape[1]));

    /// <summary>Runs an SVD step of tensor <paramref name="t"/>; a failure names the tensor and the step.</summary>
    private static T Named<T>(TaskTensor t, string step, Func<T> svd)
    {
        try { return svd(); }
        catch (InvalidOperationException e) { throw new InvalidOperationException($"TSV, tensor '{t.Name}' ({step}): {e.Message}", e); }
    }
}
