using System.Globalization;
using System.Text;

namespace EdgeTvq.Eval;

/// <summary>Markdown tables in the paper's layout (differences to FP32 in parentheses) and the CSV of every cell.</summary>
public static class Report
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    /// <summary>Schemes that appear in a zoo's cells, in the order of <see cref="StorageScheme.Main"/>, the grid, then the grouped ones.</summary>
    private static List<string> SchemeOrder(IEnumerable<CellResult> cells)
    {
        var order = StorageScheme.Main.Concat(StorageScheme.Grid).Concat(StorageScheme.Grouped).Select(s => s.Id).Distinct().ToList();
        var present = cells.Select(c => c.Scheme).ToHashSet();
        return order.Where(present.Contains).ToList();
    }

    private static List<string> MethodOrder(IEnumerable<CellResult> cells)
    {
        var present = cells.Select(c => c.Method).ToHashSet();
        var known = MergingMethod.Everything.Select(m => m.Id).Where(present.Contains).ToList();
        return known.Concat(present.Except(known).Order()).ToList();
    }

    private static string Pct(double v) => (100 * v).ToString("F1", C);
    private static string Diff(double v, double fp32) => $"{Pct(v)} ({(100 * (v - fp32) >= 0 ? "+" : "")}{(100 * (v - fp32)).ToString("F1", C)})";
    private static CellResult? Find(IEnumerable<CellResult> cells, string scheme, string method) => cells.FirstOrDefault(c => c.Scheme == scheme && c.Method == method);
    private static string SchemeLabel(IEnumerable<CellResult> cells, string id) => cells.First(c => c.Scheme == id).SchemeLabel;

    /// <summary>Table 1 / B / C: methods × the main schemes, average accuracy (%) with the difference to FP32.</summary>
    public static string MainTable(IReadOnlyList<CellResult> cells)
    {
        var main = StorageScheme.Main.Select(s => s.Id).Where(id => cells.Any(c => c.Scheme == id)).ToList();
        var sb = new StringBuilder();
        sb.AppendLine($"| Method | {string.Join(" | ", main.Select(s => SchemeLabel(cells, s)))} |");
        sb.AppendLine($"|---|{string.Concat(main.Select(_ => "---:|"))}");
        foreach (var method in MethodOrder(cells))
        {
            var fp32 = Find(cells, "FP32", method);
            var row = main.Select(s => Find(cells, s, method) is { } c
                ? (fp32 is null || s == "FP32" ? Pct(c.Average) : Diff(c.Average, fp32.Average)) : "–");
            sb.AppendLine($"| {cells.First(c => c.Method == method).MethodLabel} | {string.Join(" | ", row)} |");
        }
        var any = main.Select(s => cells.First(c => c.Scheme == s)).ToList();
        sb.AppendLine($"| *bits / parameter / task (paper accounting)* | {string.Join(" | ", any.Select(c => c.Pack.PaperBits.ToString("0.###", C)))} |");
        sb.AppendLine($"| *stored bits / parameter / task (files)* | {string.Join(" | ", any.Select(c => c.Pack.StoredBits.ToString("F2", C)))} |");
        sb.AppendLine($"| *bundle bytes* | {string.Join(" | ", any.Select(c => c.Pack.BundleBytes.ToString("N0", C)))} |");
        sb.AppendLine($"| *quantization error (Fig. 4 measure, mean over tasks)* | {string.Join(" | ", any.Select(c => c.Pack.MeanQuantizationError.ToString("0.00e0", C)))} |");
        return sb.ToString();
    }

    /// <summary>Table E: one method, per task × the main schemes.</summary>
    public static string PerTaskTable(IReadOnlyList<CellResult> cells, string method)
    {
        var main = StorageScheme.Main.Select(s => s.Id).Where(id => Find(cells, id, method) is not null).ToList();
        if (main.Count == 0) return "";
        var tasks = Find(cells, main[0], method)!.Tasks.Select(t => t.Task).ToList();
        var sb = new StringBuilder();
        sb.AppendLine($"| Task | {string.Join(" | ", main.Select(s => SchemeLabel(cells, s)))} |");
        sb.AppendLine($"|---|{string.Concat(main.Select(_ => "---:|"))}");
        var fp32 = Find(cells, "FP32", method);
        foreach (var task in tasks)
        {
            var row = main.Select(s =>
            {
                double v = Find(cells, s, method)!.Tasks.First(t => t.Task == task).Accuracy;
                return fp32 is null || s == "FP32" ? Pct(v) : Diff(v, fp32.Tasks.First(t => t.Task == task).Accuracy);
            });
            sb.AppendLine($"| {task} | {string.Join(" | ", row)} |");
        }
        return sb.ToString();
    }

    /// <summary>Table 4: target-task and cross-task accuracy of the per-task models.</summary>
    public static string TargetCrossTable(IReadOnlyList<CellResult> cells, string method = "individual")
    {
        var with = SchemeOrder(cells).Select(s => Find(cells, s, method)).Where(c => c?.Cross is not null).Cast<CellResult>()
            .Where(c => StorageScheme.Main.Any(s => s.Id == c.Scheme)).ToList();
        if (with.Count == 0) return "";
        var fp32 = with.FirstOrDefault(c => c.Scheme == "FP32");
        var sb = new StringBuilder();
        sb.AppendLine($"| Task | {string.Join(" | ", with.Select(c => c.SchemeLabel))} |");
        sb.AppendLine($"|---|{string.Concat(with.Select(_ => "---:|"))}");
        sb.AppendLine($"| Target | {string.Join(" | ", with.Select(c => fp32 is null || c == fp32 ? Pct(c.TargetAverage!.Value) : Diff(c.TargetAverage!.Value, fp32.TargetAverage!.Value)))} |");
        sb.AppendLine($"| Cross | {string.Join(" | ", with.Select(c => fp32 is null || c == fp32 ? Pct(c.CrossAverage!.Value) : Diff(c.CrossAverage!.Value, fp32.CrossAverage!.Value)))} |");
        return sb.ToString();
    }

    /// <summary>Table A: task-arithmetic average accuracy for every RTVQ base × offset width.</summary>
    public static string GridTable(IReadOnlyList<CellResult> cells, string method = "ta")
    {
        var bits = StorageScheme.GridBits;
        if (!bits.All(b => bits.All(o => Find(cells, StorageScheme.Rtvq(b, o).Id, method) is not null))) return "";
        var fp32 = Find(cells, "FP32", method);
        var sb = new StringBuilder();
        sb.AppendLine($"| Offset \\ Base | {string.Join(" | ", bits.Select(b => $"INT{b}"))} |");
        sb.AppendLine($"|---|{string.Concat(bits.Select(_ => "---:|"))}");
        foreach (var o in bits)
        {
            var row = bits.Select(b =>
            {
                var c = Find(cells, StorageScheme.Rtvq(b, o).Id, method)!;
                return fp32 is null ? Pct(c.Average) : Diff(c.Average, fp32.Average);
            });
            sb.AppendLine($"| INT{o} | {string.Join(" | ", row)} |");
        }
        sb.AppendLine();
        sb.AppendLine("Quantization error (Fig. 4 measure, mean over tasks) of the same grid:");
        sb.AppendLine();
        sb.AppendLine($"| Offset \\ Base | {string.Join(" | ", bits.Select(b => $"INT{b}"))} |");
        sb.AppendLine($"|---|{string.Concat(bits.Select(_ => "---:|"))}");
        foreach (var o in bits)
            sb.AppendLine($"| INT{o} | {string.Join(" | ", bits.Select(b => Find(cells, StorageScheme.Rtvq(b, o).Id, method)!.Pack.MeanQuantizationError.ToString("0.00e0", C)))} |");
        return sb.ToString();
    }

    /// <summary>Per-task quantization error of every main scheme (the Fig. 4 measure).</summary>
    public static string ErrorTable(IReadOnlyList<CellResult> cells)
    {
        var schemes = StorageScheme.Main.Select(s => s.Id).Where(id => id != "FP32" && cells.Any(c => c.Scheme == id)).ToList();
        if (schemes.Count == 0) return "";
        var packs = schemes.Select(s => cells.First(c => c.Scheme == s)).ToList();
        var sb = new StringBuilder();
        sb.AppendLine($"| Task | {string.Join(" | ", packs.Select(c => c.SchemeLabel))} |");
        sb.AppendLine($"|---|{string.Concat(packs.Select(_ => "---:|"))}");
        foreach (var t in packs[0].Pack.Tasks.Select(t => t.Task))
            sb.AppendLine($"| {t} | {string.Join(" | ", packs.Select(c => c.Pack.Tasks.First(x => x.Task == t).QuantizationError.ToString("0.00e0", C)))} |");
        return sb.ToString();
    }

    public static string RangeTable(ZooAnalysis a)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| Task | θ_ft range | τ range | ‖τ‖₂ | mean per-tensor range of τ | of the RTVQ offset τ − mean τ | offset ÷ τ |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var r in a.Ranges)
            sb.AppendLine($"| {r.Task} | [{r.FinetunedMin.ToString("F3", C)}, {r.FinetunedMax.ToString("F3", C)}] | [{r.TaskVectorMin.ToString("F4", C)}, {r.TaskVectorMax.ToString("F4", C)}] | " +
                          $"{r.TaskVectorL2.ToString("F2", C)} | {r.TaskVectorMeanTensorRange.ToString("F4", C)} | {r.OffsetMeanTensorRange.ToString("F4", C)} | {(r.OffsetMeanTensorRange / r.TaskVectorMeanTensorRange).ToString("F2", C)} |");
        return sb.ToString();
    }

    /// <summary>Mean off-diagonal cosine similarity between task vectors, per scheme (Fig. B in one number).</summary>
    public static string CosineTable(ZooAnalysis a)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| Scheme | mean off-diagonal cosine | max off-diagonal cosine |");
        sb.AppendLine("|---|---:|---:|");
        foreach (var (id, m) in a.Cosine)
        {
            var off = Enumerable.Range(0, m.Length).SelectMany(i => Enumerable.Range(0, m.Length).Where(j => j != i).Select(j => m[i][j])).ToList();
            sb.AppendLine($"| {id} | {off.Average().ToString("F4", C)} | {off.Max().ToString("F4", C)} |");
        }
        if (a.Norms.TryGetValue("FP32", out var exact))
        {
            sb.AppendLine().AppendLine("‖τ̂‖₂ ÷ ‖τ‖₂ per task (quantized tensors):").AppendLine();
            sb.AppendLine($"| Scheme | {string.Join(" | ", a.Tasks)} |");
            sb.AppendLine($"|---|{string.Concat(a.Tasks.Select(_ => "---:|"))}");
            foreach (var (id, n) in a.Norms.Where(kv => kv.Key != "FP32"))
                sb.AppendLine($"| {id} | {string.Join(" | ", n.Select((v, i) => (v / exact[i]).ToString("F3", C)))} |");
        }
        return sb.ToString();
    }

    public static string Markdown(IReadOnlyList<CellResult> cells, IReadOnlyList<ZooAnalysis> analyses)
    {
        var sb = new StringBuilder();
        foreach (var zoo in cells.GroupBy(c => c.Zoo))
        {
            var z = zoo.ToList();
            sb.AppendLine($"### {zoo.Key} ({z[0].TaskCount} tasks)").AppendLine();
            sb.AppendLine("Average accuracy (%), difference to FP32 in parentheses:").AppendLine().AppendLine(MainTable(z));
            foreach (var m in MethodOrder(z))
            {
                string t = PerTaskTable(z, m);
                if (t != "") sb.AppendLine($"Per task, {z.First(c => c.Method == m).MethodLabel}:").AppendLine().AppendLine(t);
            }
            string tc = TargetCrossTable(z);
            if (tc != "") sb.AppendLine("Target vs cross-task accuracy of the Individual models (Table 4):").AppendLine().AppendLine(tc);
            string grid = GridTable(z);
            if (grid != "") sb.AppendLine("RTVQ base × offset widths, task arithmetic (Table A):").AppendLine().AppendLine(grid);
            if (Pareto.Applies(z))
            {
                sb.AppendLine("Accuracy against stored bits (file bytes; every scheme of this zoo, cheapest first):").AppendLine().AppendLine(Pareto.Table(z));
                sb.AppendLine($"Goal: within {Pareto.GoalPoints.ToString(C)} points of FP32 at ≤ {Pareto.GoalBits.ToString("F1", C)} stored bits per parameter per task:").AppendLine().AppendLine(Pareto.Goal(z));
            }
            string err = ErrorTable(z);
            if (err != "") sb.AppendLine("Quantization error per task (‖τ − τ̂‖₂ ÷ quantized parameters):").AppendLine().AppendLine(err);
            if (analyses.FirstOrDefault(a => a.Zoo == zoo.Key) is { } an)
            {
                sb.AppendLine("Value ranges over the quantized tensors:").AppendLine().AppendLine(RangeTable(an));
                sb.AppendLine("Cosine similarity between task vectors (quantized tensors):").AppendLine().AppendLine(CosineTable(an));
            }
        }
        return sb.ToString();
    }

    public static string Csv(IEnumerable<CellResult> cells)
    {
        var sb = new StringBuilder("zoo,tasks,scheme,method,settings,task,images,correct,accuracy,paper_bits,stored_bits,quantization_error,sparsity_before,sparsity_after,bundle_bytes,cell_average,target_average,cross_average\n");
        foreach (var c in cells)
            foreach (var t in c.Tasks)
            {
                var p = c.Pack.Tasks.FirstOrDefault(x => x.Task == t.Task) ?? new PackTaskStats();
                sb.AppendLine(string.Join(",", c.Zoo, c.TaskCount, c.Scheme, c.Method, $"\"{c.MethodSettings}\"", t.Task, t.Images, t.Correct, t.Accuracy.ToString("R", C),
                    p.PaperBits.ToString("R", C), p.StoredBits.ToString("R", C), p.QuantizationError.ToString("R", C), p.SparsityBefore.ToString("R", C), p.SparsityAfter.ToString("R", C),
                    c.Pack.BundleBytes, c.Average.ToString("R", C), c.TargetAverage?.ToString("R", C) ?? "", c.CrossAverage?.ToString("R", C) ?? ""));
            }
        return sb.ToString();
    }
}
