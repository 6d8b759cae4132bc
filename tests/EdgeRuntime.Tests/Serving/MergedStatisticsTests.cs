using EdgeTvq.Merging;
using EdgeTvq.Runtime.Serving;

namespace EdgeTvq.Runtime.Tests.Serving;

public class MergedStatisticsTests
{
    [Fact]
    public void Negative_batchnorm_running_variances_are_named_and_other_tensors_may_be_negative()
    {
        using var ok = new WeightSet();
        ok.Add("layer1.0.bn1.running_var", [3]).Fill(0.5f);
        ok.Add("layer1.0.bn1.running_mean", [3]).Fill(-2f); // means and weights may be negative
        ok.Add("layer1.0.conv1.weight", [2]).Fill(-1f);
        Assert.Null(MergedStatistics.Problem(ok));

        using var bad = new WeightSet();
        bad.Add("layer1.0.bn1.running_var", [3]).Fill(0.5f);
        var v = bad.Add("layer4.2.bn2.running_var", [4]);
        v.Fill(1f);
        v[1] = -1.8f;
        v[3] = -0.25f;
        bad.Add("layer4.2.bn2.weight", [1]).Fill(-3f);
        var problem = MergedStatistics.Problem(bad);
        Assert.NotNull(problem);
        Assert.Contains("2 BatchNorm running variance value(s) negative in 1 tensor(s)", problem);
        Assert.Contains("layer4.2.bn2.running_var", problem);
        Assert.Contains("-1.8", problem);
        Assert.Contains("NaN", problem);
    }
}
