using System.CommandLine;
using Spectre.Console;

namespace EdgeTvq.Eval;

/// <summary>
/// edgetvq-eval: packs a model zoo under every storage scheme, merges every method through BundleMerger on the
/// device runtime, classifies every task's test set with ONNX Runtime and reports accuracy, bits, bytes and
/// quantization error. Results are cached per (zoo, scheme, method) cell, so an interrupted run resumes.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var zoo = new Option<string>("--zoo") { Description = "zoo folder (bench/zoo/README.md)", Required = true };
        var outDir = new Option<string>("--out") { Description = "output folder: cache.json, packs/, <zoo>/results.json|csv", DefaultValueFactory = _ => "artifacts/eval" };
        var schemes = new Option<string>("--schemes") { Description = "main (Table 1 columns), grouped (TVQ2-G128, TVQ2-ROW, TVQ3-ROW, RTVQ-B2O1-ROW, RTVQ-B3O2-ROW, BITDELTA) or a comma-separated list of ids (FP32, FQ8, TVQ4, RTVQ-B3O2, …)", DefaultValueFactory = _ => "main" };
        var grid = new Option<bool>("--grid") { Description = "also the RTVQ base × offset grid of Table A (task arithmetic only)" };
        var cross = new Option<bool>("--cross") { Description = "evaluate each Individual model on every task (Table 4's target vs cross-task accuracy)" };
        var methods = new Option<string>("--methods") { Description = $"comma-separated method ids ({string.Join(", ", MergingMethod.Everything.Select(m => m.Id))}) or all (every row but the tuned ones)", DefaultValueFactory = _ => "all" };
        var threads = new Option<int>("--threads") { Description = "ONNX Runtime intra-op threads (0: one per core)", DefaultValueFactory = _ => 0 };
        var limit = new Option<int>("--limit") { Description = "at most this many test images per task (for smoke runs; changes the cache key)", DefaultValueFactory = _ => int.MaxValue };
        var noAnalysis = new Option<bool>("--no-analysis") { Description = "skip the task-vector statistics (Figs. 3, B)" };
        var taskCount = new Option<int?>("--tasks") { Description = "only the zoo's first N tasks, named <size>-<N>tasks (the task sets are nested: a 20-task zoo's first 8 are the 8-task zoo)" };
        var run = new Command("run", "Evaluate one zoo: pack, merge, classify; write <out>/<zoo>/results.json and .csv")
            { zoo, outDir, schemes, grid, cross, methods, threads, limit, noAnalysis, taskCount };
        run.SetAction(r => Guard(() => Run(r.GetValue(zoo)!, r.GetValue(outDir)!, r.GetValue(schemes)!, r.GetValue(grid), r.GetValue(cross),
            r.GetValue(methods)!, r.GetValue(threads), r.GetValue(limit), !r.GetValue(noAnalysis), string.Join(' ', args.Select(RelativeToCwd)), r.GetValue(taskCount))));

        var results = new Option<string[]>("--results") { Description = "results.json files of edgetvq-eval run", Required = true, AllowMultipleArgumentsPerToken = true };
        var docs = new Option<string>("--out") { Description = "folder for tables.md and the PNG plots", DefaultValueFactory = _ => "docs/results" };
        var report = new Command("report", "Tables (markdown) and plots (PNG) from results files") { results, docs };
        report.SetAction(r => Guard(() => Report_(r.GetValue(results)!, r.GetValue(docs)!)));

        var denseZoo = new Option<string>("--zoo") { Description = "dense zoo folder (format edgetvq-dense-zoo)", Required = true };
        var denseOut = new Option<string>("--out") { Description = "output folder: dense-cache.json, packs/, <zoo>/dense-results.json", DefaultValueFactory = _ => "artifacts/eval" };
        var denseSchemes = new Option<string?>("--schemes") { Description = $"comma-separated columns (default all: {string.Join(", ", Dense.DenseRun.TableDSchemes)})" };
        var denseMethods = new Option<string?>("--methods") { Description = $"comma-separated rows (default all: {string.Join(", ", Dense.DenseRun.Table3Methods)})" };
        var denseLimit = new Option<int>("--limit") { Description = "the first N test images only (changes the cache key)", DefaultValueFactory = _ => int.MaxValue };
        var denseDoc = new Option<string>("--doc") { Description = "the report to write", DefaultValueFactory = _ => "docs/results-dense.md" };
        var denseFigures = new Option<string>("--figures") { Description = "folder for the fig7-dense-*.png grids", DefaultValueFactory = _ => "docs/results" };
        var dense = new Command("dense", "Dense zoo (segmentation, depth, normals): Table 3, Table D, Fig. 7 grids and real-photo depth through the device path; writes the report")
            { denseZoo, denseOut, denseSchemes, denseMethods, denseLimit, threads, denseDoc, denseFigures };
        dense.SetAction(r => Guard(() => Dense.DenseRun.Run(r.GetValue(denseZoo)!, r.GetValue(denseOut)!, r.GetValue(denseSchemes), r.GetValue(denseMethods),
            r.GetValue(denseLimit), r.GetValue(threads), r.GetValue(denseDoc)!, r.GetValue(denseFigures)!, string.Join(' ', args.Select(RelativeToCwd)))));

        var root = new RootCommand("edgetvq-eval: accuracy of merged models per storage scheme on a model zoo") { run, report, dense };
        return root.Parse(args).Invoke();
    }

    /// <summary>An absolute path argument as seen from the working directory, so recorded commands hold no machine paths.</summary>
    private static string RelativeToCwd(string arg) => Path.IsPathRooted(arg) ? Path.GetRelativePath(Environment.CurrentDirectory, arg) : arg;

    private static int Guard(Func<int> f)
    {
        try { return f(); }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or UnauthorizedAccessException or Format.BundleFormatException)
        {
            Console.Error.WriteLine($"edgetvq-eval: {e.Message}");
            return 1;
        }
    }

    public static IReadOnlyList<StorageScheme> SelectSchemes(string spec, bool grid)
    {
        var known = StorageScheme.Main.Concat(StorageScheme.Grid).Concat(StorageScheme.Grouped).GroupBy(s => s.Id).Select(g => g.First()).ToDictionary(s => s.Id, StringComparer.OrdinalIgnoreCase);
        var list = spec == "main" ? StorageScheme.Main.ToList()
            : spec == "grouped" ? StorageScheme.Grouped.ToList()
            : spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(id => known.TryGetValue(id, out var s) ? s : StorageScheme.Parse(id)
                    ?? throw new ArgumentException($"unknown scheme '{id}'; known: {string.Join(", ", known.Keys)}, any TVQb / FQb / RTVQ-BbOo (b, o in 1–8), and ALLOC-TVQ|RTVQ-BITS[-S] (budget allocation, -S: measured sensitivity)")).ToList();
        if (grid) list.AddRange(StorageScheme.Grid.Where(g => list.All(s => s.Id != g.Id)));
        return list;
    }

    /// <summary>
    /// The cells to run: every selected method on the main schemes it runs on (<see cref="MergingMethod.Schemes"/>);
    /// only task arithmetic on the grid schemes that --grid added (not named in --schemes); on every other scheme (grid
    /// schemes named in --schemes, grouped and budget-allocated ones) the methods that run on any scheme.
    /// </summary>
    public static List<(StorageScheme Scheme, MergingMethod Method)> Plan(IReadOnlyList<StorageScheme> schemes, IReadOnlyList<MergingMethod> methods,
        IReadOnlyCollection<string>? named = null)
    {
        var plan = new List<(StorageScheme, MergingMethod)>();
        foreach (var s in schemes)
        {
            bool gridOnly = StorageScheme.Main.All(m => m.Id != s.Id) && StorageScheme.Grid.Any(g => g.Id == s.Id)
                            && named?.Contains(s.Id, StringComparer.OrdinalIgnoreCase) != true;
            foreach (var m in methods)
                if (gridOnly ? m.Id == "ta" : m.RunsOn(s)) plan.Add((s, m));
        }
        return plan;
    }

    private static int Run(string zooDir, string outDir, string schemeSpec, bool grid, bool cross, string methodSpec, int threads, int limit, bool analysis, string command, int? taskCount = null)
    {
        var zoo = Zoo.Open(zooDir);
        if (taskCount is { } n) zoo = zoo.FirstTasks(n);
        var schemes = SelectSchemes(schemeSpec, grid);
        var methods = methodSpec == "all" ? MergingMethod.All
            : methodSpec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(MergingMethod.Find).ToList();
        var plan = Plan(schemes, methods, schemeSpec == "main" ? null : schemeSpec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        var cache = new ResultCache(Path.Combine(outDir, "cache.json"));
        var evaluator = new Evaluator(zoo, outDir, threads, limit);
        string limitTag = limit == int.MaxValue ? "" : $" limit={limit}";
        string Key(StorageScheme s, MergingMethod m) => ResultCache.CellKey(zoo, s, m, cross) + (limitTag == "" ? "" : "-l" + limit);
        int cached = plan.Count(p => cache.TryGet(Key(p.Scheme, p.Method), out _));
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(zoo.Name)}[/]: {zoo.Tasks.Count} tasks, {schemes.Count} schemes, {methods.Count} methods → {plan.Count} cells ({cached} cached){Markup.Escape(limitTag)}");

        var cells = new List<CellResult>();
        var failures = new List<string>();
        var packs = new Dictionary<string, Pack>();
        var infeasible = new Dictionary<string, string>(); // budget schemes that cannot be packed, and why
        ZooAnalysis? zooAnalysis = null;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var overall = ctx.AddTask("all cells", maxValue: plan.Count);
                foreach (var (scheme, method) in plan)
                {
                    string key = Key(scheme, method);
                    if (cache.TryGet(key, out var done))
                    {
                        cells.Add(done);
                        overall.Increment(1);
                        continue;
                    }
                    if (!packs.TryGetValue(scheme.Id, out var pack) && !infeasible.ContainsKey(scheme.Id))
                    {
                        var packTask = ctx.AddTask($"pack {scheme.Id}", maxValue: 1);
                        try
                        {
                            packs[scheme.Id] = pack = evaluator.PackScheme(scheme, (_, d, t) => { packTask.MaxValue = Math.Max(1, t); packTask.Value = d; });
                        }
                        catch (ArgumentException e) when (scheme.Options.BudgetBits is not null)
                        {
                            // A budget below the smallest bundle the zoo allows: every cell of the scheme is reported as
                            // failed (shown as "–"), and the other schemes go on.
                            infeasible[scheme.Id] = e.Message;
                            AnsiConsole.MarkupLine($"  [red]{Markup.Escape(scheme.Id),-12} cannot be packed: {Markup.Escape(e.Message)}[/]");
                        }
                        packTask.Value = packTask.MaxValue;
                        packTask.StopTask();
                    }
                    if (pack is null)
                    {
                        failures.Add($"{zoo.Name} {scheme.Id} × {method.Id}: {infeasible[scheme.Id]}");
                        overall.Increment(1);
                        continue;
                    }
                    var cellTask = ctx.AddTask($"{scheme.Id} × {method.Id}", maxValue: 1);
                    CellResult cell;
                    try
                    {
                        cell = evaluator.Evaluate(pack, method, cross, key, (d, t) => { cellTask.MaxValue = t; cellTask.Value = d; });
                    }
                    catch (InvalidOperationException e)
                    {
                        // A method that cannot merge this bundle (e.g. an SVD that does not converge): the cell is
                        // reported as failed, not cached (a rerun tries again), and the other cells go on.
                        cellTask.StopTask();
                        failures.Add($"{zoo.Name} {scheme.Id} × {method.Id}: {e.Message}");
                        AnsiConsole.MarkupLine($"  [red]{Markup.Escape(scheme.Id),-12} {Markup.Escape(method.Id),-10} failed: {Markup.Escape(e.Message)}[/]");
                        overall.Increment(1);
                        continue;
                    }
                    cellTask.StopTask();
                    cache.Put(cell);
                    cells.Add(cell);
                    overall.Increment(1);
                    AnsiConsole.MarkupLine($"  {Markup.Escape(scheme.Id),-12} {Markup.Escape(method.Id),-10} average {100 * cell.Average,5:F1} %" +
                                           (cell.CrossAverage is { } ca ? $", cross {100 * ca:F1} %" : "") + $"  ({cell.Seconds:F1} s)");
                }
                if (analysis)
                {
                    string akey = ResultCache.AnalysisKey(zoo);
                    if (!cache.TryGetAnalysis(akey, out zooAnalysis))
                    {
                        var at = ctx.AddTask("task-vector statistics", maxValue: 1);
                        foreach (var id in new[] { "TVQ3", "TVQ2", "RTVQ-B3O2" })
                            if (schemes.FirstOrDefault(s => s.Id == id) is { } s && !packs.ContainsKey(id)) packs[id] = evaluator.PackScheme(s);
                        zooAnalysis = Analysis.Run(zoo, packs.Where(p => p.Key is "TVQ3" or "TVQ2" or "RTVQ-B3O2").ToDictionary(p => p.Key, p => p.Value));
                        cache.PutAnalysis(akey, zooAnalysis);
                        at.Value = 1;
                    }
                }
            });

        var file = new ResultsFile
        {
            Generated = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ"), Machine = Machine(), Command = "edgetvq-eval " + command,
            Cells = cells, Failures = failures, Analyses = zooAnalysis is null ? [] : [zooAnalysis],
        };
        string dir = Path.Combine(outDir, zoo.Name);
        Json.WriteAtomic(Path.Combine(dir, "results.json"), file);
        File.WriteAllText(Path.Combine(dir, "results.csv"), Report.Csv(cells));
        AnsiConsole.WriteLine();
        Console.WriteLine(Report.MainTable(cells));
        AnsiConsole.MarkupLine($"results: {Markup.Escape(Path.Combine(dir, "results.json"))} and results.csv");
        foreach (var f in failures) AnsiConsole.MarkupLine($"[red]failed:[/] {Markup.Escape(f)}");
        return 0;
    }

    private static int Report_(string[] resultFiles, string outDir)
    {
        var files = resultFiles.Select(f => Json.Read<ResultsFile>(f) ?? throw new FileNotFoundException($"{f}: no such results file", f)).ToList();
        var cells = files.SelectMany(f => f.Cells).ToList();
        var analyses = files.SelectMany(f => f.Analyses).ToList();
        Directory.CreateDirectory(outDir);
        var header = string.Join("\n", files.Select(f => $"<!-- {f.Command} | {f.Machine} | {f.Generated} -->"));
        var failures = files.SelectMany(f => f.Failures).ToList();
        string failed = failures.Count == 0 ? "" : "\nCells that failed (not in the tables, shown as \"–\"):\n\n" + string.Concat(failures.Select(f => $"* {f}\n"));
        File.WriteAllText(Path.Combine(outDir, "tables.md"), header + "\n\n" + Report.Markdown(cells, analyses) + failed);
        foreach (var png in Plots.All(cells, analyses, outDir)) Console.WriteLine(png);
        Console.WriteLine(Path.Combine(outDir, "tables.md"));
        return 0;
    }

    private static string Machine()
    {
        string cpu = File.Exists("/proc/cpuinfo") ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim() ?? "" : "";
        return $"{Environment.ProcessorCount} cores {cpu}, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}";
    }
}
