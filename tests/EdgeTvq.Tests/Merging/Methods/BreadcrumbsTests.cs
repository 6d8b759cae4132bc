using CsCheck;
using EdgeTvq.Merging.Methods;

namespace EdgeTvq.Tests.Merging.Methods;

public class BreadcrumbsTests
{
    [Fact]
    public void Rows_drop_the_top_gamma_and_keep_the_next_beta()
    {
        float[] tau = [5f, -1f, 3f, 0.5f, -4f,   1f, 1f, 1f, 2f, 0f];
        var table = new[] { new TaskTensor("w", [2, 5], [tau]) };
        // n = 5: drop int(5·0.2) = 1, keep int(5·0.4) = 2.
        // row 0 ranks 5, −4, 3, −1, 0.5 → drop 5, keep −4 and 3 ; row 1 ranks 2, 1(#0), 1(#1), 1(#2), 0 → drop 2, keep #0, #1
        // α = 0.5: [0, 0, 1.5, 0, −2,  0.5, 0.5, 0, 0, 0]
        Approx.Equal([0f, 0f, 1.5f, 0f, -2f, 0.5f, 0.5f, 0f, 0f, 0f],
            Breadcrumbs.Merge(table, alpha: 0.5f, beta: 0.4, gamma: 0.2)[0]);
    }

    [Fact]
    public void Tiny_gamma_drops_nothing_and_scalars_are_untouched()
    {
        var table = new[]
        {
            new TaskTensor("v", [5], [[5f, -1f, 3f, 0.5f, -4f], [0f, 2f, 0f, 0f, 1f]]),
            new TaskTensor("s", [], [[7f], [1f]]),
        };
        // γ = 0.006: int(5·0.006) = 0 dropped; β = 0.4 keeps 2 per row.
        // τ1 keeps 5, −4 ; τ2 keeps 2, 1 → Σ = [5, 2, 0, 0, −3] → α 0.2 → [1, 0.4, 0, 0, −0.6]
        var delta = Breadcrumbs.Merge(table, beta: 0.4);
        Approx.Equal([1f, 0.4f, 0f, 0f, -0.6f], delta[0]);
        // scalar kept whole: 0.2·(7 + 1) = 1.6
        Approx.Equal([1.6f], delta[1]);
    }

    [Fact]
    public void With_no_drop_and_full_keep_it_is_task_arithmetic()
    {
        Gen.Select(Gen.Int[1, 4], Gen.Int[1, 4], Gen.Int[1, 8]).SelectMany((t, rows, n) =>
            Gen.Float[-4f, 4f].Array[rows * n].Array[t].Select(tau => new TaskTensor("w", [rows, n], tau))).Sample(tensor =>
        {
            Approx.Equal(TaskArithmetic.Merge([tensor], 0.2f)[0], Breadcrumbs.Merge([tensor], beta: 1, gamma: 0)[0], 1e-5f);
        });
    }
}
