using CsCheck;
using EdgeTvq.Merging.Methods;

namespace EdgeTvq.Tests.Merging.Methods;

public class EmrMergingTests
{
    [Fact]
    public void Two_tensor_example_by_hand()
    {
        var table = new[]
        {
            TaskTensor.Of("A", [2f, -1f], [1f, 3f]),
            TaskTensor.Of("B", [-4f, 0f], [2f, 0f]),
        };
        // A: Σ = [3, 2] → flag [+, +]; m1 = [T, F], m2 = [T, T]; τ_uni = [max(2, 1), 3] = [2, 3]
        // B: Σ = [−2, 0] → flag [−, −(zero → −1)]; m1 = [T, F], m2 = [F, F]; τ_uni = [−4, −0]
        // r1 = (mean|τ1,A| + mean|τ1,B|) / (mean|m1,A∘uni| + mean|m1,B∘uni|) = (1.5 + 2) / (1 + 2) = 7/6
        // r2 = ((1+3)/2 + (2+0)/2) / ((2+3)/2 + 0) = 3 / 2.5 = 1.2
        var emr = EmrMerging.Merge(table);
        Approx.Equal([2f, 3f], emr.TauUni[0]);
        Approx.Equal([-4f, 0f], emr.TauUni[1]);
        Approx.Equal([7f / 6f, 1.2f], emr.Rescalers);
        var d1 = emr.TaskDelta(0);
        Approx.Equal([7f / 3f, 0f], d1[0]);           // 7/6·[2, 0]
        Approx.Equal([-14f / 3f, 0f], d1[1]);         // 7/6·[−4, 0]
        var d2 = emr.TaskDelta(1);
        Approx.Equal([2.4f, 3.6f], d2[0]);            // 1.2·[2, 3]
        Approx.Equal([0f, 0f], d2[1]);
    }

    [Fact]
    public void A_single_task_is_reproduced()
    {
        Gen.Float[-4f, 4f].Array[1, 20].Sample(tau =>
        {
            // flag = sign τ, mask = τ ≠ 0, τ_uni = τ there, r = 1
            Approx.Equal(tau, EmrMerging.Merge([TaskTensor.Of("w", tau)]).TaskDelta(0)[0], 0f);
        });
    }
}
