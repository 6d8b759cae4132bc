using System.Security.Cryptography;
using System.Text;
using EdgeTvq.Runtime.Input;
using EdgeTvq.Runtime.Output;
using Spectre.Console;

namespace EdgeTvq.Eval.Dense;

/// <summary>The depth task on one real photo: errors of the raw prediction and after median scaling.</summary>
public sealed class RealDepthRow
{
    public string Image { get; set; } = "";
    public string Scheme { get; set; } = "";
    public string Method { get; set; } = "";
    public double Abs { get; set; }
    public double Rel { get; set; }
    public double ScaledAbs { get; set; }
    public double ScaledRel { get; set; }
    /// <summary>median(target) / median(prediction) over valid pixels.</summary>
    public double Factor { get; set; }
}

/// <summary>What <c>edgetvq-eval dense</c> writes to &lt;out&gt;/&lt;zoo&gt;/dense-results.json and renders into docs/results-dense.md.</summary>
public sealed class DenseResultsFile
{
    public string Generated { get; set; } = "";
    public string Machine { get; set; } = "";
    public string Command { get; set; } = "";
    public string Zoo { get; set; } = "";
    public int Images { get; set; }
    public double Seconds { get; set; }
    public List<DenseCell> Cells { get; set; } = [];
    public List<RealDepthRow> Real { get; set; } = [];
    public List<string> Figures { get; set; } = [];
    public List<string> Failures { get; set; } = [];
}

/// <summary>
/// <c>edgetvq-eval dense</c>: the dense zoo's Table 3 (six merging rows × FP32, TVQ INT4, TVQ INT2, RTVQ B2O2) and
/// Table D (every scheme × Individual and task arithmetic) through the device path, the Fig. 7-style grids, the
/// real-photo depth check, and the report. Cells are cached like the classification harness's, so a rerun resumes.
/// </summary>
public static class DenseRun
{
    public const string HarnessVersion = "edgetvq-eval dense 1";

    public static readonly string[] Table3Methods = ["individual", "ta", "ties", "magmax", "breadcrumbs", "emr"];
    public static readonly string[] Table3Schemes = ["FP32", "TVQ4", "TVQ2", "RTVQ-B2O2"];
    public static readonly string[] TableDMethods = ["individual", "ta"];
    public static readonly string[] TableDSchemes = ["FP32", "FQ8", "FQ4", "TVQ8", "TVQ4", "TVQ3", "TVQ2", "RTVQ-B2O2", "RTVQ-B3O2"];

    /// <summary>The schemes of the Fig. 7 grids and the real-depth check, merged by task arithmetic.</summary>
    public static readonly string[] FigureSchemes = ["FP32", "TVQ2", "RTVQ-B2O2"];

    /// <summary>Test rooms in the grids.</summary>
    public const int FigureRooms = 3;

    /// <summary>The cells of both tables (Table 3's rows on its schemes, Individual and task arithmetic on every scheme), narrowed to the selection.</summary>
    public static List<(StorageScheme Scheme, MergingMethod Method)> Plan(IReadOnlyCollection<string>? schemes, IReadOnlyCollection<string>? methods)
    {
        var plan = new List<(StorageScheme, MergingMethod)>();
        // Table 3's schemes first: an interrupted run has its pattern cells soonest (the cache keeps every finished cell).
        var order = Table3Schemes.Concat(TableDSchemes.Except(Table3Schemes));
        foreach (var s in Program.SelectSchemes(string.Join(',', order), grid: false))
            foreach (var id in Table3Methods)
            {
                bool wanted = TableDMethods.Contains(id) || Table3Schemes.Contains(s.Id);
                if (wanted && (schemes is null || schemes.Contains(s.Id, StringComparer.OrdinalIgnoreCase)) && (methods is null || methods.Contains(id)))
                    plan.Add((s, MergingMethod.Find(id)));
            }
        return plan;
    }

    public static string CellKey(DenseZoo zoo, StorageScheme s, MergingMethod m, int images) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{HarnessVersion}|{zoo.Key}|{s.Key}|{m.Key}|images={images}")))[..24];

    public static int Run(string zooDir, string outDir, string? schemeSpec, string? methodSpec, int limit, int threads, string doc, string figures, string command)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var zoo = DenseZoo.Open(zooDir);
        var evaluator = new DenseEvaluator(zoo, outDir, threads, limit);
        var schemes = schemeSpec?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var methods = methodSpec?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var id in methods ?? []) if (!Table3Methods.Contains(id)) throw new ArgumentException($"method '{id}' is not a row of the dense tables; rows: {string.Join(", ", Table3Methods)}");
        foreach (var id in schemes ?? []) if (!TableDSchemes.Contains(id, StringComparer.OrdinalIgnoreCase)) throw new ArgumentException($"scheme '{id}' is not a column of the dense tables; columns: {string.Join(", ", TableDSchemes)}");
        var plan = Plan(schemes, methods);
        string cachePath = Path.Combine(outDir, "dense-cache.json");
        var cache = Json.Read<Dictionary<string, DenseCell>>(cachePath) ?? [];
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(zoo.Name)}[/]: {zoo.Tasks.Count} dense tasks, {evaluator.Images} test images of {zoo.Width}x{zoo.Height}, " +
                               $"{plan.Count} cells ({plan.Count(p => cache.ContainsKey(CellKey(zoo, p.Scheme, p.Method, evaluator.Images)))} cached)");

        var cells = new List<DenseCell>();
        var failures = new List<string>();
        var packs = new Dictionary<string, DensePack>();
        DensePack PackOf(StorageScheme s) => packs.TryGetValue(s.Id, out var p) ? p : packs[s.Id] = evaluator.PackScheme(s);
        foreach (var (scheme, method) in plan)
        {
            string key = CellKey(zoo, scheme, method, evaluator.Images);
            if (!cache.TryGetValue(key, out var cell))
            {
                try
                {
                    cell = evaluator.Evaluate(PackOf(scheme), method, key);
                }
                catch (InvalidOperationException e)
                {
                    failures.Add($"{scheme.Id} × {method.Id}: {e.Message}");
                    AnsiConsole.MarkupLine($"  [red]{Markup.Escape(scheme.Id),-10} {Markup.Escape(method.Id),-12} failed: {Markup.Escape(e.Message)}[/]");
                    continue;
                }
                catch (InvalidDataException e) when (e.Message.Contains("BatchNorm", StringComparison.Ordinal) || e.Message.Contains("running", StringComparison.Ordinal))
                {
                    // The runtime refuses a merge whose BatchNorm running variance went negative (it would output NaN).
                    failures.Add($"{scheme.Id} × {method.Id}: {e.Message}");
                    AnsiConsole.MarkupLine($"  [red]{Markup.Escape(scheme.Id),-10} {Markup.Escape(method.Id),-12} refused: {Markup.Escape(e.Message)}[/]");
                    continue;
                }
                cache[key] = cell;
                Json.WriteAtomic(cachePath, cache);
            }
            cells.Add(cell);
            var s = cell.Scores;
            AnsiConsole.MarkupLine($"  {Markup.Escape(scheme.Id),-10} {Markup.Escape(method.Id),-12} mIoU {100 * s.SegMeanIoU,5:F1}  pix {100 * s.SegPixelAccuracy,5:F1}  " +
                                   $"abs {100 * s.DepthAbs,5:F1}  rel {100 * s.DepthRel,5:F1}  angle {s.NormalMean,5:F1}°  ({cell.Seconds:F1} s)");
        }

        var ta = MergingMethod.Find("ta");
        var individual = MergingMethod.Find("individual");
        var figureSchemes = FigureSchemes.Where(id => plan.Any(p => p.Scheme.Id == id && p.Method.Id == "ta"))
            .Select(id => Program.SelectSchemes(id, grid: false)[0]).ToList();
        var figureFiles = figureSchemes.Count == 0 ? [] : Figures(evaluator, figureSchemes.Select(PackOf).ToList(), ta, figures);
        foreach (var f in figureFiles) Console.WriteLine(f);

        var real = new List<RealDepthRow>();
        foreach (var s in figureSchemes)
            foreach (var m in new[] { individual, ta })
                if (m == ta || s.Id == "FP32")
                    real.AddRange(RealDepth(evaluator, PackOf(s), m));

        var file = new DenseResultsFile
        {
            Generated = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'"), Machine = Machine(), Command = "edgetvq-eval " + command, Zoo = zoo.Name,
            Images = evaluator.Images, Seconds = clock.Elapsed.TotalSeconds, Cells = cells, Real = real, Failures = failures,
            Figures = figureFiles.Select(f => Path.GetRelativePath(Path.GetDirectoryName(Path.GetFullPath(doc))!, f)).ToList(),
        };
        Json.WriteAtomic(Path.Combine(outDir, zoo.Name, "dense-results.json"), file);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(doc))!);
        File.WriteAllText(doc, DenseReport.Markdown(zoo, file));
        AnsiConsole.MarkupLine($"{Markup.Escape(doc)} written in {clock.Elapsed.TotalSeconds:F0} s; results in {Markup.Escape(Path.Combine(outDir, zoo.Name, "dense-results.json"))}");
        foreach (var f in failures) AnsiConsole.MarkupLine($"[red]failed:[/] {Markup.Escape(f)}");
        return 0;
    }

    /// <summary>The machine line of the report: architecture, cores, CPU model.</summary>
    public static string Machine()
    {
        string cpu = File.Exists("/proc/cpuinfo") ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim() ?? "" : "";
        string arch = System.Runtime.InteropServices.RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant() == "x64" ? "x86-64" : System.Runtime.InteropServices.RuntimeInformation.OSArchitecture.ToString();
        return $"{arch} VM, {Environment.ProcessorCount} cores ({cpu}), .NET {Environment.Version}";
    }

    /// <summary>Test rooms of the grids: spread over the evaluated images.</summary>
    public static int[] FigureIndices(int images) =>
        Enumerable.Range(0, Math.Min(FigureRooms, images)).Select(i => i * images / Math.Min(FigureRooms, images)).ToArray();

    /// <summary>
    /// One grid per task, rows = test rooms, columns = input, ground truth, then each pack's prediction under
    /// <paramref name="method"/>. Returns the files written (fig7-dense-TASKKIND.png).
    /// </summary>
    public static List<string> Figures(DenseEvaluator evaluator, IReadOnlyList<DensePack> packs, MergingMethod method, string dir)
    {
        var zoo = evaluator.Zoo;
        int h = zoo.Height, w = zoo.Width, plane = h * w;
        var rooms = FigureIndices(evaluator.Images);
        var images = new List<InputImage>();
        var targets = new List<(int[] Seg, float[] Depth, float[] Normals)>();
        foreach (int i in rooms)
        {
            var img = NpyFile.Read(zoo.TestImages, i, 1);
            images.AddRange(DenseTestSet.Images(img.Bytes!, i, 1, h, w));
            targets.Add((NpyFile.Read(zoo.TestSegmentation, i, 1).Ints!, NpyFile.Read(zoo.TestDepth, i, 1).Floats!,
                DenseTestSet.ChannelFirst(NpyFile.Read(zoo.TestNormals, i, 1).Floats!, 1, plane)));
        }
        var predictions = packs.Select(p => evaluator.Predict(p, method, images)).ToList();
        var written = new List<string>();
        foreach (var task in zoo.Tasks)
        {
            var rows = new List<IReadOnlyList<Tile>>();
            for (int r = 0; r < rooms.Length; r++)
            {
                var (seg, depth, normals) = targets[r];
                var (min, max) = DepthRange(depth);
                Tile Of(Runtime.Serving.DenseMap m) => task.Kind switch
                {
                    "segmentation" => Tile.Segmentation(m.Classes!, w, h),
                    "depth" => Tile.Depth(m.Values!, w, h, min, max),
                    _ => Tile.Normals(m.Values!, w, h),
                };
                var row = new List<Tile>
                {
                    new(images[r].Pixels, w, h),
                    task.Kind switch { "segmentation" => Tile.Segmentation(seg, w, h), "depth" => Tile.Depth(depth, w, h, min, max), _ => Tile.Normals(normals, w, h) },
                };
                row.AddRange(predictions.Select(p => Of(p[task.Name][r].Map!)));
                rows.Add(row);
            }
            string path = Path.Combine(dir, $"fig7-dense-{task.Kind}.png");
            DenseFigure.Write(path, rows);
            written.Add(path);
        }
        return written;
    }

    private static (float Min, float Max) DepthRange(ReadOnlySpan<float> depth)
    {
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        foreach (float d in depth)
            if (d > 0 && float.IsFinite(d)) { min = Math.Min(min, d); max = Math.Max(max, d); }
        return min > max ? (0, 1) : (min, max);
    }

    /// <summary>The depth task of <paramref name="method"/>'s model(s) on each real photo: errors raw and median-scaled.</summary>
    public static List<RealDepthRow> RealDepth(DenseEvaluator evaluator, DensePack pack, MergingMethod method)
    {
        var zoo = evaluator.Zoo;
        var rows = new List<RealDepthRow>();
        if (zoo.Real.Count == 0) return rows;
        var images = new List<InputImage>();
        var targets = new List<float[]>();
        foreach (var r in zoo.Real)
        {
            var img = NpyFile.Read(r.Image);
            var gt = NpyFile.Read(r.Depth);
            if (img.Shape is not [var h, var w, 3] || img.Bytes is null) throw new InvalidDataException($"{r.Image}: expected uint8 [H, W, 3], got {img.Dtype} ({string.Join(", ", img.Shape)})");
            if (gt.Floats is null || !gt.Shape.SequenceEqual([h, w])) throw new InvalidDataException($"{r.Depth}: expected float32 [{h}, {w}], got {gt.Dtype} ({string.Join(", ", gt.Shape)})");
            images.Add(new InputImage(r.Name, w, h, 3, img.Bytes, null));
            targets.Add(gt.Floats);
        }
        string depthTask = zoo.Task("depth").Name;
        List<Runtime.Serving.TaskResult> maps = [];
        // One image at a time: the photos differ in size, and a batch holds one size.
        evaluator.ForEachModel(pack, method, (model, tasks) =>
        {
            if (!tasks.Contains(depthTask)) return;
            maps = images.Select(i => Runtime.Serving.TaskRunner.Run(model, depthTask, [i], topK: 1)[0]).ToList();
        });
        for (int i = 0; i < images.Count; i++)
        {
            var pred = maps[i].Map!.Values!;
            var raw = new DepthMetric();
            raw.Update(pred, targets[i]);
            var scaled = new DepthMetric();
            scaled.Update(MedianScaling.Apply(pred, targets[i]), targets[i]);
            var (abs, rel) = raw.Compute();
            var (sAbs, sRel) = scaled.Compute();
            rows.Add(new RealDepthRow
            {
                Image = zoo.Real[i].Name, Scheme = pack.Scheme.Id, Method = method.Id, Abs = abs, Rel = rel, ScaledAbs = sAbs, ScaledRel = sRel,
                Factor = MedianScaling.Factor(pred, targets[i]),
            });
        }
        return rows;
    }
}
