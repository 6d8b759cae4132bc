using EdgeTvq.Eval;
using EdgeTvq.TestSupport;

namespace EdgeTvq.Eval.Tests;

/// <summary>
/// The quick 8-task zoo (built by ./build.sh test) packed under the schemes the assertions need and evaluated
/// once: task arithmetic (λ = 0.3) on every scheme, Individual on FP32 and TVQ INT4, and every other method but
/// AdaMerging on FP32 and TVQ INT8 (about 10 s more). About 30 s on 2 cores.
/// </summary>
public sealed class QuickZooEvaluation : IDisposable
{
    public static readonly string[] Schemes = ["FP32", "FQ8", "FQ4", "TVQ8", "TVQ4", "TVQ3", "TVQ2", "RTVQ-B3O2"];

    public string Out { get; } = Path.Combine(Path.GetTempPath(), "edgetvq-eval-test-" + Guid.NewGuid().ToString("N")[..10]);
    public ZooFixture Fixture { get; } = new();
    public Dictionary<string, CellResult> TaskArithmetic { get; } = [];
    public Dictionary<string, CellResult> Individual { get; } = [];

    /// <summary>The methods beyond Individual and task arithmetic that run on every scheme (AdaMerging is left out: it
    /// learns for tens of seconds per scheme), each on FP32 and TVQ INT8: (scheme, method id) → cell.</summary>
    public Dictionary<(string Scheme, string Method), CellResult> Others { get; } = [];

    public static readonly string[] OtherSchemes = ["FP32", "TVQ8"];

    public static IEnumerable<MergingMethod> OtherMethods =>
        MergingMethod.All.Where(m => m.Id is not ("individual" or "ta") && m.Schemes is null);

    public QuickZooEvaluation()
    {
        var zoo = Zoo.Open(Fixture.Dir);
        var evaluator = new Evaluator(zoo, Out, threads: 0);
        var ta = MergingMethod.Find("ta");
        var individual = MergingMethod.Find("individual");
        foreach (var scheme in Program.SelectSchemes(string.Join(',', Schemes), grid: false))
        {
            var pack = evaluator.PackScheme(scheme);
            TaskArithmetic[scheme.Id] = evaluator.Evaluate(pack, ta, cross: false, key: scheme.Id);
            if (scheme.Id is "FP32" or "TVQ4") Individual[scheme.Id] = evaluator.Evaluate(pack, individual, cross: false, key: scheme.Id);
            if (OtherSchemes.Contains(scheme.Id))
                foreach (var m in OtherMethods) Others[(scheme.Id, m.Id)] = evaluator.Evaluate(pack, m, cross: false, key: scheme.Id);
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(Out, recursive: true); } catch (IOException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class QuickZooEvaluationCollection : ICollectionFixture<QuickZooEvaluation>
{
    public const string Name = "quick zoo evaluated per scheme";
}

/// <summary>
/// The paper's pattern (Tables 1, 4, Fig. 4, App. B.1) on our quick zoo, with tolerances chosen from measured values
/// (docs/results.md: quick 8-task zoo, 2026-11-22; task-arithmetic averages in points: FP32 37.6, FQ8 37.2, FQ4 29.0,
/// TVQ8 37.5, TVQ4 38.1, TVQ3 37.8, TVQ2 46.2, RTVQ B3O2 35.4). One MNIST/Fashion image is 0.0125 points of the
/// 8-task average and one QuickDraw image 0.0625, so a margin of 2 points is 32+ images moving the wrong way.
/// </summary>
[Collection(QuickZooEvaluationCollection.Name)]
public class QuickZooPatternTests(QuickZooEvaluation e)
{
    private double Ta(string scheme) => 100 * e.TaskArithmetic[scheme].Average;
    private double Error(string scheme) => e.TaskArithmetic[scheme].Pack.MeanQuantizationError;
    private double SparsityAfter(string scheme) => e.TaskArithmetic[scheme].Pack.Tasks.Average(t => t.SparsityAfter);

    [Fact]
    public void Task_vectors_at_8_and_4_bits_merge_like_fp32()
    {
        // Measured −0.1 and +0.5 points: TVQ's error at 4 bits (4e-6 per parameter) is far below the task vectors'
        // own scale, so the merged weights hardly move. Fails if dequantization or the merge path goes wrong.
        Assert.InRange(Ta("TVQ8") - Ta("FP32"), -1.0, 1.0);
        Assert.InRange(Ta("TVQ4") - Ta("FP32"), -2.0, 2.0);
        Assert.InRange(Ta("FQ8") - Ta("FP32"), -1.5, 1.5);
    }

    [Fact]
    public void Rtvq_b3o2_stays_within_a_few_points_of_fp32()
    {
        // Measured −2.2 points (full zoo: +1.6). RTVQ's shared base keeps ~47 % of entries non-zero, so it merges
        // much like FP32 rather than like the heavily pruned TVQ INT2.
        Assert.InRange(Ta("RTVQ-B3O2") - Ta("FP32"), -5.0, 3.0);
    }

    [Fact]
    public void Quantizing_fine_tuned_weights_at_4_bits_loses_clearly_more_than_quantizing_task_vectors()
    {
        // Measured FQ4 −8.6 vs FP32 and −9.1 vs TVQ4 (same bits). Our small ViT has no outlier weights, so FQ4 does
        // not collapse to chance as CLIP's does in the paper, but the gap to TVQ at equal bits is the paper's point.
        Assert.True(Ta("FQ4") <= Ta("FP32") - 4, $"FQ INT4 {Ta("FQ4"):F1} vs FP32 {Ta("FP32"):F1}");
        Assert.True(Ta("FQ4") <= Ta("TVQ4") - 4, $"FQ INT4 {Ta("FQ4"):F1} vs TVQ INT4 {Ta("TVQ4"):F1}");
    }

    [Fact]
    public void Two_bit_task_vectors_prune_and_merge_better_than_fp32_on_this_zoo()
    {
        // Where our zoo departs from the paper's Table 1 (TVQ INT2 −6.4 there): measured +8.6 points here. 2-bit
        // quantization zeroes ~88 % of every task vector (App. B.1's pruning effect, measured; TVQ4 ~28 %), which
        // removes most interference between the 8 task vectors (docs/results.md). If this fails, re-measure and update
        // docs/results.md: the explanation there depends on it.
        Assert.True(SparsityAfter("TVQ2") >= 0.75, $"TVQ INT2 zeros {SparsityAfter("TVQ2"):P1}");
        Assert.True(SparsityAfter("TVQ4") < SparsityAfter("TVQ3") && SparsityAfter("TVQ3") < SparsityAfter("TVQ2"));
        Assert.True(Ta("TVQ2") >= Ta("FP32") + 3, $"TVQ INT2 {Ta("TVQ2"):F1} vs FP32 {Ta("FP32"):F1}");
    }

    [Fact]
    public void Quantization_error_falls_with_bits_and_is_smaller_for_task_vectors_than_for_fine_tuned_weights()
    {
        // Fig. 4: measured TVQ 2.5e-7 / 4.3e-6 / 9.0e-6 / 1.8e-5 at 8/4/3/2 bits; FQ 4.6x TVQ at both 8 and 4 bits.
        Assert.True(Error("FP32") == 0);
        Assert.True(Error("TVQ8") < Error("TVQ4") && Error("TVQ4") < Error("TVQ3") && Error("TVQ3") < Error("TVQ2"));
        Assert.True(Error("FQ8") > 3 * Error("TVQ8"), $"FQ8 {Error("FQ8"):E2} vs TVQ8 {Error("TVQ8"):E2}");
        Assert.True(Error("FQ4") > 3 * Error("TVQ4"), $"FQ4 {Error("FQ4"):E2} vs TVQ4 {Error("TVQ4"):E2}");
    }

    [Fact]
    public void Individual_models_keep_their_accuracy_at_4_bits()
    {
        // Measured −0.2 points (62.6 → 62.4); every per-task model is far above chance (10 %).
        double fp32 = 100 * e.Individual["FP32"].Average, tvq4 = 100 * e.Individual["TVQ4"].Average;
        Assert.InRange(tvq4 - fp32, -1.5, 1.5);
        Assert.All(e.Individual["TVQ4"].Tasks, t => Assert.True(t.Accuracy > 0.3, $"{t.Task}: {t.Accuracy:P1}"));
    }

    [Fact]
    public void Bits_and_bytes_follow_the_scheme()
    {
        var p = e.TaskArithmetic;
        Assert.Equal(32, p["FP32"].Pack.PaperBits);
        Assert.Equal(2 + 3.0 / 8, p["RTVQ-B3O2"].Pack.PaperBits, 6);
        Assert.True(p["TVQ2"].Pack.BundleBytes < p["RTVQ-B3O2"].Pack.BundleBytes && p["RTVQ-B3O2"].Pack.BundleBytes < p["TVQ3"].Pack.BundleBytes);
        Assert.True(p["TVQ4"].Pack.BundleBytes * 4 < p["FP32"].Pack.BundleBytes);
    }

    private const double Int8Margin = 1.0;

    [Fact]
    public void Every_method_merges_int8_task_vectors_like_fp32()
    {
        // "Quantization plugs into every method" (Tables 1, 2): TVQ INT8's error (2.5e-7 per parameter) is far below
        // the task vectors' scale, so every method's merged model should classify like FP32's. Measured on the quick
        // 8-task zoo (2026-11-22): |TVQ8 − FP32| ≤ 0.4 points for all eleven (EMR +0.4, Breadcrumbs +0.3, TIES and
        // MagMax −0.2, the rest, TSV-Merge and TSV-C included, ≤ 0.1); full zoo ≤ 0.3 (TIES). 1 point is 16 QuickDraw images moving the wrong way; a wrong decode or a
        // method that reads the codes instead of τ̂ moves it by far more. At 4 bits the margin would have to be 4
        // (EMR +3.5, TIES −1.6: docs/results.md), so INT8 is the assertion that can fail for a real reason.
        var methods = QuickZooEvaluation.OtherMethods.ToList();
        Assert.True(methods.Count >= 10, $"only {methods.Count} methods besides Individual and task arithmetic");
        Assert.All(methods, m =>
        {
            double fp32 = 100 * e.Others[("FP32", m.Id)].Average, int8 = 100 * e.Others[("TVQ8", m.Id)].Average;
            Assert.True(Math.Abs(int8 - fp32) <= Int8Margin, $"{m.Label}: TVQ INT8 {int8:F2} vs FP32 {fp32:F2} (margin {Int8Margin})");
            Assert.True(fp32 > 15, $"{m.Label}: FP32 {fp32:F1} %, near chance (10 %): the method's merge is broken");
        });
    }
}
