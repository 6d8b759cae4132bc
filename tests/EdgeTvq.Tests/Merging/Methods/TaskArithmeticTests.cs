using CsCheck;
using EdgeTvq.Merging.Methods;

namespace EdgeTvq.Tests.Merging.Methods;

public class TaskArithmeticTests
{
    [Fact]
    public void Delta_is_lambda_times_the_sum()
    {
        var table = new[] { TaskTensor.Of("w", [1f, 2f], [3f, -4f]) };
        // 0.3·(1+3) = 1.2 ; 0.3·(2−4) = −0.6
        Approx.Equal([1.2f, -0.6f], TaskArithmetic.Merge(table)[0]);
    }

    [Fact]
    public void Dare_with_a_fixed_mask_rescales_by_one_over_one_minus_p_then_sums()
    {
        var table = new[] { TaskTensor.Of("w", [1f, 2f, 3f, 4f], [4f, 3f, 2f, 1f]) };
        bool[][][] masks = [[[true, false, true, false], [false, false, true, true]]];
        // p = 0.5 → ×2: τ̃1 = [2,0,6,0], τ̃2 = [0,0,4,2]; 0.3·Σ = [0.6, 0, 3.0, 0.6]
        Approx.Equal([0.6f, 0f, 3.0f, 0.6f], Dare.TaskArithmetic(table, masks)[0]);
        Approx.Equal([2f, 0f, 6f, 0f], Dare.DropAndRescale(table, masks)[0].Tau[0]);
    }

    [Fact]
    public void Dare_with_p_zero_and_a_full_mask_is_task_arithmetic()
    {
        Gen.Select(Gen.Int[1, 4], Gen.Int[0, 20]).SelectMany((t, n) => Gen.Float[-4f, 4f].Array[n].Array[t]).Sample(tau =>
        {
            var table = new[] { new TaskTensor("w", [tau[0].Length], tau) };
            var masks = Dare.BernoulliMasks(table, new Random(1), p: 0);
            Approx.Equal(TaskArithmetic.Merge(table)[0], Dare.TaskArithmetic(table, masks, p: 0)[0], 0f);
        });
    }
}
