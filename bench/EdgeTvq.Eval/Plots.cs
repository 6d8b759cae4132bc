using ScottPlot;

namespace EdgeTvq.Eval;

/// <summary>The paper's figures redrawn from our results with ScottPlot (PNG).</summary>
public static class Plots
{
    private const int Width = 1100, Height = 560;
    private static readonly IPalette Palette = new ScottPlot.Palettes.Category10();

    /// <summary>Renders every plot the results allow; returns the files written.</summary>
    public static IEnumerable<string> All(IReadOnlyList<CellResult> cells, IReadOnlyList<ZooAnalysis> analyses, string outDir)
    {
        UseInstalledFont();
        var written = new List<string>();
        foreach (var zoo in cells.GroupBy(c => c.Zoo))
        {
            written.Add(AccuracyVsBits(zoo.ToList(), Path.Combine(outDir, $"fig2-accuracy-vs-bits-{zoo.Key}.png")));
            if (zoo.Any(c => StorageScheme.Main.Any(s => !s.IsFp32 && s.Id == c.Scheme)))
            {
                written.Add(QuantizationError(zoo.ToList(), Path.Combine(outDir, $"fig4-quantization-error-{zoo.Key}.png")));
                written.Add(Sparsity(zoo.ToList(), Path.Combine(outDir, $"figA-sparsity-{zoo.Key}.png")));
            }
            if (Pareto.Applies(zoo.ToList())) written.AddRange(Pareto.Plots(zoo.ToList(), outDir));
        }
        foreach (var a in analyses)
        {
            written.Add(WeightRanges(a, Path.Combine(outDir, $"fig3-weight-ranges-{a.Zoo}.png")));
            double max = a.Cosine.Values.SelectMany(m => OffDiagonal(m)).Max();
            foreach (var (scheme, m) in a.Cosine)
                written.Add(Cosine(a, scheme, m, max, Path.Combine(outDir, $"figB-cosine-{a.Zoo}-{scheme}.png")));
        }
        // Fig. 6 compares task counts of one model: the zoos of the size with the most task counts (quick: 8, 14, 20).
        var ta = cells.Where(c => c.Method == "ta").GroupBy(c => c.Zoo).GroupBy(z => z.Key.Split('-')[0])
            .OrderByDescending(g => g.Count()).FirstOrDefault()?.ToList() ?? [];
        if (ta.Count > 1) written.Add(Scaling(ta, Path.Combine(outDir, "fig6-scaling-task-arithmetic.png")));
        return written;
    }

    /// <summary>DejaVu Sans when installed (Debian's fonts-dejavu-core); SkiaSharp's NoDependencies build has no fontconfig.</summary>
    private static void UseInstalledFont()
    {
        const string dejavu = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
        if (!File.Exists(dejavu)) return;
        Fonts.AddFontFile("DejaVu Sans", dejavu);
        Fonts.Default = "DejaVu Sans";
    }

    private static readonly int[] TvqBits = [8, 4, 3, 2];

    /// <summary>
    /// Fig. 2: one colour per method and one legend entry per method; the scheme is told by the line and marker
    /// (solid line and dots TVQ, dotted line and open triangles FQ, a diamond RTVQ B3O2, a dashed level FP32).
    /// </summary>
    private static string AccuracyVsBits(List<CellResult> cells, string path)
    {
        var plt = new Plot();
        var colors = new ScottPlot.Palettes.Category20();
        int i = 0;
        foreach (var method in cells.Select(c => c.Method).Distinct())
        {
            var color = colors.GetColor(i++);
            var of = cells.Where(c => c.Method == method).ToDictionary(c => c.Scheme);
            string label = of.Values.First().MethodLabel;
            var tvq = TvqBits.Where(b => of.ContainsKey($"TVQ{b}")).ToList();
            if (tvq.Count > 0)
            {
                var s = plt.Add.Scatter(tvq.Select(b => (double)b).ToArray(), tvq.Select(b => 100 * of[$"TVQ{b}"].Average).ToArray(), color);
                s.LegendText = label;
                s.LineWidth = 2;
                s.MarkerSize = 8;
            }
            var fq = new[] { 8, 4 }.Where(b => of.ContainsKey($"FQ{b}")).ToList();
            if (fq.Count > 0)
            {
                var s = plt.Add.Scatter(fq.Select(b => (double)b).ToArray(), fq.Select(b => 100 * of[$"FQ{b}"].Average).ToArray(), color);
                s.LinePattern = LinePattern.Dotted;
                s.MarkerShape = MarkerShape.OpenTriangleUp;
                s.MarkerSize = 10;
            }
            if (of.TryGetValue("RTVQ-B3O2", out var r))
            {
                var s = plt.Add.Scatter(new[] { r.Pack.PaperBits }, new[] { 100 * r.Average }, color);
                s.MarkerShape = MarkerShape.FilledDiamond;
                s.MarkerSize = 14;
            }
            if (of.TryGetValue("FP32", out var fp))
            {
                plt.Add.HorizontalLine(100 * fp.Average, 1.5f, color, LinePattern.Dashed);
            }
        }
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual([2, 2.375, 3, 4, 8], ["2", "B3O2", "3", "4", "8"]);
        plt.Title($"Accuracy vs bits per task — {cells[0].Zoo} ({cells[0].TaskCount} tasks)");
        plt.XLabel("bits per parameter per task (paper accounting); solid: TVQ, dotted: FQ, diamond: RTVQ B3O2, dashed: FP32");
        plt.Axes.Bottom.Label.FontSize = 14;
        plt.YLabel("average accuracy (%)");
        plt.ShowLegend(Edge.Right);
        plt.SavePng(path, 1300, 700);
        return path;
    }

    private static string QuantizationError(List<CellResult> cells, string path)
    {
        var schemes = StorageScheme.Main.Where(s => !s.IsFp32).Select(s => cells.FirstOrDefault(c => c.Scheme == s.Id)).Where(c => c is not null).Cast<CellResult>().ToList();
        var logs = schemes.Select(c => Math.Log10(Math.Max(1e-12, c.Pack.MeanQuantizationError))).ToList();
        double floor = Math.Floor(logs.Min()) - 0.5;
        var bars = schemes.Select((c, i) => new Bar
        {
            Position = i, Value = logs[i], ValueBase = floor, FillColor = Palette.GetColor(c.Scheme.StartsWith("FQ") ? 3 : c.Scheme.StartsWith("TVQ") ? 0 : 2),
            Label = c.Pack.PaperBits.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture),
        }).ToList();
        var plt = new Plot();
        var b = plt.Add.Bars(bars);
        b.ValueLabelStyle.FontSize = 14;
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(schemes.Select((_, i) => (double)i).ToArray(), schemes.Select(c => c.SchemeLabel).ToArray());
        plt.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(), IntegerTicksOnly = true,
            LabelFormatter = y => $"1e{y:0}",
        };
        plt.Axes.SetLimitsY(floor, Math.Ceiling(logs.Max()) + 0.3);
        plt.Title($"Quantization error ‖τ − τ̂‖₂ / parameters (log) — {cells[0].Zoo}");
        plt.YLabel("mean over tasks (log scale)");
        plt.SavePng(path, Width, Height);
        return path;
    }

    private static string Sparsity(List<CellResult> cells, string path)
    {
        var schemes = StorageScheme.Main.Where(s => !s.IsFp32).Select(s => cells.FirstOrDefault(c => c.Scheme == s.Id)).Where(c => c is not null).Cast<CellResult>().ToList();
        var bars = new List<Bar>();
        for (int i = 0; i < schemes.Count; i++)
        {
            var t = schemes[i].Pack.Tasks;
            bars.Add(new Bar { Position = 3 * i, Value = 100 * t.Average(x => x.SparsityBefore), FillColor = Palette.GetColor(7) });
            bars.Add(new Bar { Position = 3 * i + 1, Value = 100 * t.Average(x => x.SparsityAfter), FillColor = Palette.GetColor(0) });
        }
        var plt = new Plot();
        plt.Add.Bars(bars);
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(schemes.Select((_, i) => 3.0 * i + 0.5).ToArray(), schemes.Select(c => c.SchemeLabel).ToArray());
        plt.Legend.ManualItems.Add(new LegendItem { LabelText = "τ before quantization", FillColor = Palette.GetColor(7) });
        plt.Legend.ManualItems.Add(new LegendItem { LabelText = "τ̂ after quantization", FillColor = Palette.GetColor(0) });
        plt.ShowLegend(Alignment.UpperLeft);
        plt.Axes.Margins(bottom: 0);
        plt.Title($"Exact zeros in the task vectors (quantized tensors) — {cells[0].Zoo}");
        plt.YLabel("zeros (%), mean over tasks");
        plt.SavePng(path, Width, Height);
        return path;
    }

    private static string WeightRanges(ZooAnalysis a, string path)
    {
        var plt = new Plot();
        var picks = a.Ranges.Where(r => r.Task is "mnist" or "quickdraw_01").DefaultIfEmpty(a.Ranges[0]).ToList();
        int i = 0;
        foreach (var r in picks)
        {
            var centers = Enumerable.Range(0, r.FinetunedHistogram.Length).Select(k => (r.HistogramEdges[k] + r.HistogramEdges[k + 1]) / 2).ToArray();
            double nf = r.FinetunedHistogram.Sum(), nt = r.TaskVectorHistogram.Sum();
            var f = plt.Add.Scatter(centers, r.FinetunedHistogram.Select(c => Math.Log10(1 + c)).ToArray(), Palette.GetColor(3 + i));
            f.LegendText = $"{r.Task}: fine-tuned weights θ_ft  [{r.FinetunedMin:F2}, {r.FinetunedMax:F2}]";
            f.MarkerSize = 0;
            f.LineWidth = 2;
            var t = plt.Add.Scatter(centers, r.TaskVectorHistogram.Select(c => Math.Log10(1 + c)).ToArray(), Palette.GetColor(i));
            t.LegendText = $"{r.Task}: task vector τ  [{r.TaskVectorMin:F3}, {r.TaskVectorMax:F3}]";
            t.MarkerSize = 0;
            t.LineWidth = 2;
            i++;
        }
        plt.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true, LabelFormatter = y => $"1e{y:0}" };
        plt.Title($"Weight distribution: fine-tuned weights vs task vectors — {a.Zoo}");
        plt.XLabel("value (quantized tensors)");
        plt.YLabel("count per bin (log scale)");
        plt.ShowLegend(Alignment.UpperRight);
        plt.SavePng(path, Width, Height);
        return path;
    }

    private static IEnumerable<double> OffDiagonal(double[][] m) =>
        Enumerable.Range(0, m.Length).SelectMany(i => Enumerable.Range(0, m.Length).Where(j => j != i).Select(j => m[i][j]));

    private static string Cosine(ZooAnalysis a, string scheme, double[][] m, double max, string path)
    {
        int n = m.Length;
        var grid = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) grid[i, j] = i == j ? double.NaN : m[i][j];
        var plt = new Plot();
        var hm = plt.Add.Heatmap(grid);
        hm.Colormap = new ScottPlot.Colormaps.Viridis();
        hm.ManualRange = new ScottPlot.Range(0, max);
        plt.Add.ColorBar(hm);
        var ticks = Enumerable.Range(0, n).Select(k => (double)k).ToArray();
        var labels = a.Tasks.Select(t => t.Replace("quickdraw_", "qd")).ToArray();
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks, labels);
        plt.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks, labels.Reverse().ToArray());
        plt.Axes.Bottom.TickLabelStyle.Rotation = 45;
        plt.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        double off = OffDiagonal(m).Average();
        plt.Title($"Cosine similarity of task vectors, {scheme} — {a.Zoo} (mean off-diagonal {off:F3})");
        plt.SavePng(path, 900, 820);
        return path;
    }

    private static string Scaling(List<IGrouping<string, CellResult>> zoos, string path)
    {
        var plt = new Plot();
        int i = 0;
        foreach (var zoo in zoos.OrderBy(z => z.First().TaskCount))
        {
            var color = Palette.GetColor(i++);
            var of = zoo.ToDictionary(c => c.Scheme);
            var tvq = TvqBits.Where(b => of.ContainsKey($"TVQ{b}")).ToList();
            var s = plt.Add.Scatter(tvq.Select(b => (double)b).ToArray(), tvq.Select(b => 100 * of[$"TVQ{b}"].Average).ToArray(), color);
            s.LegendText = $"{zoo.First().TaskCount} tasks ({zoo.Key}): TVQ";
            s.LineWidth = 2;
            if (of.TryGetValue("RTVQ-B3O2", out var r))
            {
                var p = plt.Add.Scatter(new[] { r.Pack.PaperBits }, new[] { 100 * r.Average }, color);
                p.MarkerShape = MarkerShape.FilledDiamond;
                p.MarkerSize = 14;
                p.LegendText = $"{zoo.First().TaskCount} tasks: RTVQ B3O2 ({r.Pack.PaperBits:0.###} bits)";
            }
            if (of.TryGetValue("FP32", out var fp)) plt.Add.HorizontalLine(100 * fp.Average, 1.5f, color, LinePattern.Dashed).LegendText = $"{zoo.First().TaskCount} tasks: FP32";
        }
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual([2, 3, 4, 8], ["2", "3", "4", "8"]);
        plt.Title($"Task arithmetic (λ = 0.3) when merging {string.Join(", ", zoos.Select(z => z.First().TaskCount).Order())} tasks");
        plt.XLabel("bits per parameter per task");
        plt.YLabel("average accuracy (%)");
        plt.ShowLegend(Edge.Right);
        plt.SavePng(path, Width, Height);
        return path;
    }
}
