using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using ScottPlot;

namespace EdgeTvq.Eval;

/// <summary>
/// Accuracy against the bytes really stored: every scheme of a zoo placed at its stored bits per parameter per task
/// (file bytes × 8 ÷ parameters ÷ tasks, the base file's share included), one series per scheme family, one plot
/// per method, and the goal check "within 0.5 points of FP32 at ≤ 2.0 stored bits".
/// </summary>
public static partial class Pareto
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    /// <summary>The goal of issue 16: within this many points of the method's FP32 accuracy …</summary>
    public const double GoalPoints = 0.5;

    /// <summary>… at no more than this many stored bits per parameter per task.</summary>
    public const double GoalBits = 2.0;

    /// <summary>
    /// The family a scheme's points are joined in: TVQ, FQ, RTVQ (every base/offset pair), ALLOC-TVQ, ALLOC-RTVQ (and
    /// their -S sensitivity variants), a grouped variant such as TVQ-G128 (TVQ2-G128, TVQ3-G128, …), or the id itself.
    /// </summary>
    public static string Family(string scheme)
    {
        if (scheme == "FP32") return scheme;
        if (AllocId().Match(scheme) is { Success: true } a) return $"ALLOC-{a.Groups[1].Value}{a.Groups[2].Value}";
        if (UniformId().Match(scheme) is { Success: true } u) return u.Groups[1].Value + u.Groups[3].Value;
        if (RtvqId().Match(scheme) is { Success: true } r) return "RTVQ" + r.Groups[1].Value;
        return scheme;
    }

    [GeneratedRegex(@"^ALLOC-([A-Z]+)-[0-9.]+(-S)?$")] private static partial Regex AllocId();
    [GeneratedRegex(@"^(TVQ|FQ)([0-9])(-.+)?$")] private static partial Regex UniformId();
    [GeneratedRegex(@"^RTVQ-B[0-9]O[0-9](-.+)?$")] private static partial Regex RtvqId();

    /// <summary>Whether a zoo's cells hold more than the paper's columns, so a Pareto view says something.</summary>
    public static bool Applies(IReadOnlyList<CellResult> cells) =>
        cells.Any(c => c.Scheme.StartsWith("ALLOC-", StringComparison.Ordinal) || Family(c.Scheme).Contains('-') || c.Scheme == "BITDELTA");

    /// <summary>Methods × schemes ordered by stored bits: accuracy (difference to the method's FP32) and the stored bits.</summary>
    public static string Table(IReadOnlyList<CellResult> cells)
    {
        var methods = cells.Select(c => c.Method).Distinct().ToList();
        var schemes = cells.GroupBy(c => c.Scheme).Select(g => g.First()).OrderBy(c => c.Pack.StoredBits).ToList();
        var sb = new StringBuilder();
        sb.AppendLine($"| Scheme | stored bits | {string.Join(" | ", methods.Select(m => cells.First(c => c.Method == m).MethodLabel))} |");
        sb.AppendLine($"|---|---:|{string.Concat(methods.Select(_ => "---:|"))}");
        foreach (var s in schemes)
        {
            var row = methods.Select(m =>
            {
                var c = cells.FirstOrDefault(x => x.Scheme == s.Scheme && x.Method == m);
                var fp = cells.FirstOrDefault(x => x.Scheme == "FP32" && x.Method == m);
                if (c is null) return "–";
                string v = (100 * c.Average).ToString("F1", C);
                return fp is null || c.Scheme == "FP32" ? v : $"{v} ({Signed(100 * (c.Average - fp.Average))})";
            });
            sb.AppendLine($"| {s.SchemeLabel} | {s.Pack.StoredBits.ToString("F2", C)} | {string.Join(" | ", row)} |");
        }
        return sb.ToString();
    }

    /// <summary>A difference in points with its sign, one decimal ("-0.0": below by less than 0.05).</summary>
    private static string Signed(double points) => (points >= 0 ? "+" : "") + points.ToString("F1", C);

    /// <summary>Per method: the cheapest scheme within <see cref="GoalPoints"/> of FP32, and whether it fits in <see cref="GoalBits"/>.</summary>
    public static string Goal(IReadOnlyList<CellResult> cells)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"| Method | FP32 | cheapest scheme within {GoalPoints.ToString(C)} points | its stored bits | best at ≤ {GoalBits.ToString("F1", C)} stored bits | goal |");
        sb.AppendLine("|---|---:|---|---:|---|---|");
        foreach (var m in cells.Select(c => c.Method).Distinct())
        {
            var fp = cells.FirstOrDefault(c => c.Scheme == "FP32" && c.Method == m);
            if (fp is null) continue;
            var of = cells.Where(c => c.Method == m && c.Scheme != "FP32").ToList();
            var within = of.Where(c => 100 * (fp.Average - c.Average) <= GoalPoints).OrderBy(c => c.Pack.StoredBits).FirstOrDefault();
            var underBudget = of.Where(c => c.Pack.StoredBits <= GoalBits).OrderByDescending(c => c.Average).FirstOrDefault();
            bool met = within is not null && within.Pack.StoredBits <= GoalBits;
            sb.AppendLine($"| {fp.MethodLabel} | {(100 * fp.Average).ToString("F1", C)} | {within?.SchemeLabel ?? "none"} | {within?.Pack.StoredBits.ToString("F2", C) ?? "–"} | " +
                          $"{(underBudget is null ? "no scheme" : $"{underBudget.SchemeLabel}: {(100 * underBudget.Average).ToString("F1", C)} ({Signed(100 * (underBudget.Average - fp.Average))})")} | {(met ? "reached" : "not reached")} |");
        }
        return sb.ToString();
    }

    /// <summary>One PNG per method: accuracy vs stored bits, a line per family, FP32 and FP32 − 0.5 as levels, the 2-bit goal as a vertical line.</summary>
    public static IEnumerable<string> Plots(IReadOnlyList<CellResult> cells, string outDir)
    {
        var palette = new ScottPlot.Palettes.Category10();
        foreach (var method in cells.Select(c => c.Method).Distinct())
        {
            var of = cells.Where(c => c.Method == method).ToList();
            if (of.Count < 2) continue;
            var plt = new Plot();
            int i = 0;
            double top = 0;
            foreach (var family in of.Where(c => c.Scheme != "FP32").GroupBy(c => Family(c.Scheme)).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                var pts = family.OrderBy(c => c.Pack.StoredBits).ToList();
                var s = plt.Add.Scatter(pts.Select(c => c.Pack.StoredBits).ToArray(), pts.Select(c => 100 * c.Average).ToArray(), palette.GetColor(i++ % 10));
                s.LegendText = family.Key;
                s.LineWidth = 2;
                s.MarkerSize = 8;
                top = Math.Max(top, pts.Max(c => 100 * c.Average));
            }
            if (of.FirstOrDefault(c => c.Scheme == "FP32") is { } fp)
            {
                plt.Add.HorizontalLine(100 * fp.Average, 1.5f, Colors.Black, LinePattern.Dashed).LegendText = $"FP32 ({fp.Pack.StoredBits:F0} stored bits)";
                plt.Add.HorizontalLine(100 * fp.Average - GoalPoints, 1f, Colors.Gray, LinePattern.Dotted).LegendText = $"FP32 − {GoalPoints.ToString(C)}";
                top = Math.Max(top, 100 * fp.Average);
            }
            plt.Add.VerticalLine(GoalBits, 1f, Colors.Gray, LinePattern.Dotted);
            var shown = of.Where(c => c.Scheme != "FP32" && c.Pack.StoredBits <= 6).ToList();
            double bottom = shown.Select(c => 100 * c.Average).DefaultIfEmpty(top).Min();
            double left = Math.Min(1.5, Math.Floor(2 * shown.Select(c => c.Pack.StoredBits).DefaultIfEmpty(1.5).Min()) / 2);
            plt.Axes.SetLimits(left, 6, Math.Floor(bottom - 1), Math.Ceiling(top + 1));
            plt.Title($"{of[0].MethodLabel}: accuracy vs stored bits — {of[0].Zoo} ({of[0].TaskCount} tasks)");
            plt.XLabel("stored bits per parameter per task (file bytes, base share included); dotted: the 2-bit goal");
            plt.YLabel("average test accuracy (%)");
            plt.ShowLegend(Edge.Right);
            string path = Path.Combine(outDir, $"pareto-{of[0].Zoo}-{method}.png");
            plt.SavePng(path, 1200, 620);
            yield return path;
        }
    }
}
