using System.Text.Json;
using EdgeTvq.Eval;
using EdgeTvq.TestSupport;

namespace EdgeTvq.Eval.Tests;

public class HarnessTests
{
    [Fact]
    public void A_rerun_takes_finished_cells_from_the_cache_and_writes_the_same_results()
    {
        var zoo = new ZooFixture();
        string dir = Path.Combine(Path.GetTempPath(), "edgetvq-eval-resume-" + Guid.NewGuid().ToString("N")[..10]);
        try
        {
            string[] args = ["run", "--zoo", zoo.Dir, "--schemes", "TVQ4", "--methods", "ta,lines", "--out", dir, "--no-analysis"];
            Assert.Equal(0, Program.Main(args));
            string results = Path.Combine(dir, Path.GetFileName(zoo.Dir), "results.json");
            var first = Json.Read<ResultsFile>(results)!;
            Assert.Equal(2, first.Cells.Count);
            // Drop the pack: a cached cell must not need it.
            Directory.Delete(Path.Combine(dir, "packs"), recursive: true);
            Assert.Equal(0, Program.Main(args));
            var second = Json.Read<ResultsFile>(results)!;
            Assert.False(Directory.Exists(Path.Combine(dir, "packs")), "a cached cell was recomputed (its pack was rebuilt)");
            Assert.Equal(first.Cells.Select(c => (c.Key, c.Average, c.FinishedUtc)), second.Cells.Select(c => (c.Key, c.Average, c.FinishedUtc)));
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    [Fact]
    public void Method_and_scheme_ids_are_unique_and_every_option_is_in_the_cache_key()
    {
        Assert.Equal(MergingMethod.All.Count, MergingMethod.All.Select(m => m.Id).Distinct().Count());
        var schemes = StorageScheme.Main.Concat(StorageScheme.Grid).GroupBy(s => s.Id).Select(g => g.First()).ToList();
        Assert.Equal(schemes.Count, schemes.Select(s => s.Key).Distinct().Count());
        Assert.Equal(16, StorageScheme.Grid.Count);
        Assert.NotEqual(StorageScheme.Tvq(4).Key, (StorageScheme.Tvq(4) with { Options = StorageScheme.Tvq(4).Options with { Mode = Quantization.QuantMode.Reference } }).Key);
    }

    [Fact]
    public void Grouped_schemes_have_their_own_ids_and_keys_and_run_every_general_method()
    {
        var all = StorageScheme.Main.Concat(StorageScheme.Grid).Concat(StorageScheme.Grouped).GroupBy(s => s.Id).Select(g => g.First()).ToList();
        Assert.Equal(all.Count, all.Select(s => s.Key).Distinct().Count());
        Assert.Equal(["TVQ2-G128", "TVQ2-ROW", "TVQ3-ROW", "RTVQ-B2O1-ROW", "RTVQ-B3O2-ROW", "BITDELTA"], StorageScheme.Grouped.Select(s => s.Id));
        Assert.Equal(StorageScheme.Tvq(2).Key + " group=128", StorageScheme.TvqGrouped(2, new Bundle.GroupSpec(128)).Key);
        Assert.EndsWith("group=row signs", StorageScheme.BitDelta.Key);
        Assert.Equal(StorageScheme.Grouped, Program.SelectSchemes("grouped", grid: false));
        var plan = Program.Plan(StorageScheme.Grouped, MergingMethod.All);
        Assert.Equal(StorageScheme.Grouped.Count * MergingMethod.All.Count(m => m.Schemes is null), plan.Count);
    }

    [Fact]
    public void The_grid_runs_task_arithmetic_only_and_the_main_schemes_run_every_method()
    {
        var plan = Program.Plan(Program.SelectSchemes("main", grid: true), MergingMethod.All);
        int everywhere = MergingMethod.All.Count(m => m.Schemes is null), adaMerging = MergingMethod.All.Count(m => m.Id.StartsWith("adamerging", StringComparison.Ordinal));
        Assert.Equal(2, adaMerging);
        Assert.Equal(everywhere + adaMerging, MergingMethod.All.Count);
        Assert.Equal(StorageScheme.Main.Count * everywhere + adaMerging * MergingMethod.AdaMergingSchemes.Count + (StorageScheme.Grid.Count - 1), plan.Count);
        Assert.All(plan.Where(p => StorageScheme.Main.All(m => m.Id != p.Scheme.Id)), p => Assert.Equal("ta", p.Method.Id));
        Assert.All(plan.Where(p => p.Method.Schemes is not null), p => Assert.Contains(p.Scheme.Id, MergingMethod.AdaMergingSchemes));
        // A grid scheme named in --schemes, and a budget-allocated one, run every method that runs on any scheme.
        var named = Program.Plan(Program.SelectSchemes("RTVQ-B2O2,ALLOC-RTVQ-2.5-S", grid: false), MergingMethod.All, ["RTVQ-B2O2", "ALLOC-RTVQ-2.5-S"]);
        Assert.Equal(2 * everywhere, named.Count);
        var alloc = named[^1].Scheme;
        Assert.Equal(("ALLOC-RTVQ-2.5-S", true, 2.5), (alloc.Id, alloc.Sensitive, alloc.Options.BudgetBits!.Value));
        Assert.NotEqual(alloc.Key, StorageScheme.Alloc(Format.Scheme.Rtvq, 2.5).Key);
        Assert.Equal(2.5, alloc.PaperBits(8));
        Assert.Null(StorageScheme.ParseAlloc("ALLOC-RTVQ-x"));
        Assert.Equal(["TVQ1", "RTVQ-B2O1", "FQ3"], Program.SelectSchemes("TVQ1,rtvq-b2o1,FQ3", grid: false).Select(x => x.Id));
        Assert.Contains("unknown scheme 'TVQ9'", Assert.Throws<ArgumentException>(() => Program.SelectSchemes("TVQ9", grid: false)).Message);
        Assert.Equal(("ALLOC-TVQ", "ALLOC-RTVQ-S", "TVQ", "RTVQ", "TVQ-G128"),
            (Pareto.Family("ALLOC-TVQ-2.0"), Pareto.Family("ALLOC-RTVQ-1.5-S"), Pareto.Family("TVQ3"), Pareto.Family("RTVQ-B2O2"), Pareto.Family("TVQ2-G128")));
        Assert.Equal(("RTVQ-ROW", "BITDELTA"), (Pareto.Family("RTVQ-B2O1-ROW"), Pareto.Family("BITDELTA")));
    }

    [Fact]
    public void Method_ids_parse_and_only_individual_is_evaluated_cross_task()
    {
        Assert.Equal("ta@0.1", MergingMethod.Find("ta@0.1").Id);
        var ada = MergingMethod.Find("adamerging-lw@20");
        Assert.Equal(("adamerging-lw@20", MethodKind.MultiTask), (ada.Id, ada.Kind));
        Assert.Contains("steps=20", ada.Settings);
        Assert.NotEqual(MergingMethod.Find("adamerging-lw").Key, ada.Key);
        Assert.Throws<ArgumentException>(() => MergingMethod.Find("adamerging-lw@0"));
        Assert.Equal(["individual"], MergingMethod.All.Where(m => m.CrossTask).Select(m => m.Id));
        Assert.Equal(["emr", "individual", "tsv-compress"], MergingMethod.All.Where(m => m.Kind == MethodKind.PerTask).Select(m => m.Id).Order());
    }

    [Fact]
    public void Tables_show_differences_to_fp32_in_parentheses()
    {
        CellResult Cell(string scheme, double avg) => new()
        {
            Zoo = "z", Scheme = scheme, SchemeLabel = scheme, Method = "ta", MethodLabel = "Task arithmetic", Average = avg, TaskCount = 2,
            Tasks = [new TaskScore { Task = "a", Accuracy = avg }], Pack = new PackStats { PaperBits = scheme == "FP32" ? 32 : 4 },
        };
        string table = Report.MainTable([Cell("FP32", 0.5), Cell("TVQ4", 0.512), Cell("TVQ2", 0.45)]);
        Assert.Contains("| Task arithmetic | 50.0 | 51.2 (+1.2) | 45.0 (-5.0) |", table);
    }

    [Fact]
    public void The_goal_check_signs_a_difference_that_rounds_to_zero_once()
    {
        CellResult Cell(string scheme, double avg, double bits) => new()
        {
            Zoo = "z", Scheme = scheme, SchemeLabel = scheme, Method = "ta", MethodLabel = "Task arithmetic", Average = avg, TaskCount = 1,
            Tasks = [new TaskScore { Task = "a", Accuracy = avg }], Pack = new PackStats { PaperBits = bits, StoredBits = bits },
        };
        string goal = Pareto.Goal([Cell("FP32", 0.716, 32), Cell("BITDELTA", 0.7157, 1.95), Cell("TVQ4", 0.7, 4.6)]);
        Assert.Contains("| Task arithmetic | 71.6 | BITDELTA | 1.95 | BITDELTA: 71.6 (-0.0) | reached |", goal);
        Assert.Contains("| BITDELTA | 1.95 | 71.6 (-0.0) |", Pareto.Table([Cell("FP32", 0.716, 32), Cell("BITDELTA", 0.7157, 1.95)]));
    }
}
