using System.Diagnostics;
using EdgeTvq.Eval.Dense;
using Xunit.Abstractions;

namespace EdgeTvq.Eval.Tests;

/// <summary>
/// The quick dense zoo (segmentation, depth, normals; found through EDGETVQ_DENSE_ZOO or at artifacts/zoo/dense-quick,
/// missing is a failure naming what to run) evaluated through the device path on its first <see cref="Images"/> test
/// rooms: task arithmetic at FP32, TVQ INT4, TVQ INT2 and RTVQ B2O2, and Individual at FP32.
/// </summary>
public sealed class DenseZooEvaluation : IDisposable
{
    public const int Images = 32;

    public static readonly string[] Schemes = ["FP32", "TVQ4", "TVQ2", "RTVQ-B2O2"];

    public string Out { get; } = Path.Combine(Path.GetTempPath(), "edgetvq-dense-test-" + Guid.NewGuid().ToString("N")[..10]);
    public DenseZoo Zoo { get; }
    public Dictionary<string, DenseCell> TaskArithmetic { get; } = [];
    public DenseCell Individual { get; }
    public TimeSpan Elapsed { get; }

    public DenseZooEvaluation()
    {
        string? dir = Environment.GetEnvironmentVariable("EDGETVQ_DENSE_ZOO");
        if (string.IsNullOrEmpty(dir))
        {
            var d = new DirectoryInfo(AppContext.BaseDirectory);
            while (d is not null && !File.Exists(Path.Combine(d.FullName, "EdgeTvq.sln"))) d = d.Parent;
            dir = d is null ? "" : Path.Combine(d.FullName, "artifacts", "zoo", "dense-quick");
        }
        Assert.True(File.Exists(Path.Combine(dir, "manifest.json")), $"the quick dense zoo is missing at {dir}: run ./build.sh zoo --dense --quick (./build.sh test does this)");
        var clock = Stopwatch.StartNew();
        Zoo = DenseZoo.Open(dir);
        var evaluator = new DenseEvaluator(Zoo, Out, threads: 0, limit: Images);
        var ta = MergingMethod.Find("ta");
        foreach (var scheme in Program.SelectSchemes(string.Join(',', Schemes), grid: false))
            TaskArithmetic[scheme.Id] = evaluator.Evaluate(evaluator.PackScheme(scheme), ta, scheme.Id);
        Individual = evaluator.Evaluate(evaluator.PackScheme(StorageScheme.Fp32), MergingMethod.Find("individual"), "FP32");
        Elapsed = clock.Elapsed;
    }

    public void Dispose()
    {
        try { Directory.Delete(Out, recursive: true); } catch (IOException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class DenseZooEvaluationCollection : ICollectionFixture<DenseZooEvaluation>
{
    public const string Name = "quick dense zoo evaluated per scheme";
}

/// <summary>
/// The paper's dense pattern (Table 3) on the quick dense zoo, with tolerances chosen from measured values
/// (docs/results-dense.md; the values this test measured are in its comments). Distances are
/// <see cref="DenseReport.Distance"/>: the mean over mIoU, pixel accuracy, depth Abs, Rel and normal mean angle of
/// |change| / FP32 value.
/// </summary>
[Collection(DenseZooEvaluationCollection.Name)]
public sealed class DenseZooPatternTests(DenseZooEvaluation e, ITestOutputHelper log)
{
    private DenseScores Ta(string scheme) => e.TaskArithmetic[scheme].Scores;

    private void Log()
    {
        foreach (var (id, c) in e.TaskArithmetic.Append(new("individual FP32", e.Individual)))
        {
            var s = c.Scores;
            log.WriteLine($"{id,-16} mIoU {s.SegMeanIoU:F4} pix {s.SegPixelAccuracy:F4} abs {s.DepthAbs:F4} rel {s.DepthRel:F4} angle {s.NormalMean:F3} " +
                          $"distance {DenseReport.Distance(Ta("FP32"), s):P2} ({c.Seconds:F1} s)");
        }
        log.WriteLine($"fixture: {e.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public void IndividualFp32_BeatsTheZoosTrivialBaselines()
    {
        Log();
        var s = e.Individual.Scores;
        double Baseline(string kind, string key) => e.Zoo.Task(kind).BaselineMetrics!.Value.GetProperty(key).GetDouble();
        Assert.True(s.SegMeanIoU > Baseline("segmentation", "miou") + SegmentationMargin, $"mIoU {s.SegMeanIoU:F4} vs baseline {Baseline("segmentation", "miou"):F4}");
        Assert.True(s.SegPixelAccuracy > Baseline("segmentation", "pixacc") + SegmentationMargin, $"pixel accuracy {s.SegPixelAccuracy:F4} vs baseline {Baseline("segmentation", "pixacc"):F4}");
        Assert.True(s.DepthAbs < Baseline("depth", "abs") * DepthBaselineFactor, $"depth abs {s.DepthAbs:F4} vs baseline {Baseline("depth", "abs"):F4}");
        Assert.True(s.DepthRel < Baseline("depth", "rel") * DepthBaselineFactor, $"depth rel {s.DepthRel:F4} vs baseline {Baseline("depth", "rel"):F4}");
        Assert.True(s.NormalMean < Baseline("normals", "mean") - NormalBaselineMarginDegrees, $"normal mean {s.NormalMean:F3}° vs baseline {Baseline("normals", "mean"):F3}°");
    }

    [Fact]
    public void TvqInt4_StaysWithinATolerance_OfFp32OnEveryMetric()
    {
        Log();
        foreach (var m in DenseReport.Paper)
        {
            double loss = Math.Abs(m.RelativeLoss(Ta("FP32"), Ta("TVQ4")));
            Assert.True(loss <= Int4PerMetric, $"{m.Header}: TVQ INT4 {m.Format(m.Get(Ta("TVQ4")))} vs FP32 {m.Format(m.Get(Ta("FP32")))}, {loss:P2} apart (at most {Int4PerMetric:P1})");
        }
    }

    [Fact]
    public void TvqInt2_IsFurtherFromFp32_ThanInt4()
    {
        Log();
        double d4 = DenseReport.Distance(Ta("FP32"), Ta("TVQ4")), d2 = DenseReport.Distance(Ta("FP32"), Ta("TVQ2"));
        Assert.True(d2 > d4 * Int2OverInt4, $"TVQ INT2 is {d2:P2} from FP32, TVQ INT4 {d4:P2}: expected INT2 more than {Int2OverInt4}× further");
    }

    [Fact]
    public void RtvqB2O2_IsCloserToFp32_ThanTvqInt2()
    {
        Log();
        double d2 = DenseReport.Distance(Ta("FP32"), Ta("TVQ2")), dr = DenseReport.Distance(Ta("FP32"), Ta("RTVQ-B2O2"));
        Assert.True(dr < d2 * RtvqOverInt2, $"RTVQ B2O2 is {dr:P2} from FP32, TVQ INT2 {d2:P2}: expected RTVQ under {RtvqOverInt2}× INT2's distance");
    }

    // Tolerances, from the quick dense zoo (first 32 test rooms, 2026-11-29): task arithmetic FP32 mIoU 0.1260, PixAcc
    // 0.7145, Abs 0.6800, Rel 0.3210, angle 32.475°; TVQ INT4 0.08 % from FP32 (worst metric Rel, 0.12 %); TVQ INT2
    // 1.25 %; RTVQ B2O2 0.48 %. Individual FP32: mIoU 0.1385, PixAcc 0.7441, Abs 0.6588, Rel 0.3053, angle 32.29°
    // against the zoo's baselines (majority class, mean depth, mean normal) 0.0428, 0.5560, 0.8787, 0.4918, 51.27°.

    /// <summary>Individual FP32's mIoU and pixel accuracy are at least this much above the majority-class baseline's (measured +0.096, +0.188).</summary>
    private const double SegmentationMargin = 0.05;
    /// <summary>Individual FP32's depth errors are below this fraction of the mean-depth baseline's (measured 0.75 and 0.62).</summary>
    private const double DepthBaselineFactor = 0.9;
    /// <summary>Individual FP32's mean angle is this many degrees under the mean-normal baseline's (measured 19°).</summary>
    private const double NormalBaselineMarginDegrees = 10;
    /// <summary>TVQ INT4 differs from FP32 by at most this on every metric, relative (measured at most 0.12 %).</summary>
    private const double Int4PerMetric = 0.01;
    /// <summary>TVQ INT2 is more than this many times as far from FP32 as INT4 (measured 15×).</summary>
    private const double Int2OverInt4 = 3;
    /// <summary>RTVQ B2O2's distance is under this fraction of TVQ INT2's (measured 0.38).</summary>
    private const double RtvqOverInt2 = 0.75;
}
