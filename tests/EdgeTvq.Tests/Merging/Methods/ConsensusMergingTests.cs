using CsCheck;
using EdgeTvq.Merging.Methods;

namespace EdgeTvq.Tests.Merging.Methods;

public class ConsensusMergingTests
{
    private static readonly TaskTensor Tensor = TaskTensor.Of("w",
        [1f, 4f, 0f, 1f],
        [2f, 1f, 0f, 1f],
        [-1f, -1f, 6f, 1f]);

    [Fact]
    public void Tall_masks_use_a_strict_inequality()
    {
        // merged = [2, 4, 6, 3], λ = 0.5: m_t = |τ_t| > 0.5·|merged − τ_t|
        // [0]: 1 > 0.5 T, 2 > 0 T, 1 > 1.5 F ; [1]: 4 > 0 T, 1 > 1.5 F, 1 > 2.5 F
        // [2]: 0 > 3 F, 0 > 3 F, 6 > 0 T ; [3]: 1 > 0.5·2 = 1 F for all three (equality is not enough)
        var masks = ConsensusMerging.TallMasks([Tensor], [0.5f, 0.5f, 0.5f])[0];
        Assert.Equal([true, true, false, false], masks[0]);
        Assert.Equal([true, false, false, false], masks[1]);
        Assert.Equal([false, false, true, false], masks[2]);
    }

    [Fact]
    public void Consensus_keeps_entries_with_at_least_k_votes()
    {
        // votes = [2, 1, 1, 0] ≥ 2 → keep [0] only: 0.3·2 = 0.6
        Approx.Equal([0.6f, 0f, 0f, 0f], ConsensusMerging.Merge([Tensor], lambdas: [0.5f, 0.5f, 0.5f])[0]);
        // k = 1 keeps [0..2]: 0.3·[2, 4, 6, (3 dropped)] = [0.6, 1.2, 1.8, 0]
        Approx.Equal([0.6f, 1.2f, 1.8f, 0f], ConsensusMerging.Merge([Tensor], k: 1, lambdas: [0.5f, 0.5f, 0.5f])[0]);
    }

    [Fact]
    public void One_task_with_k_1_keeps_every_nonzero_entry()
    {
        Gen.Float[-4f, 4f].Array[0, 20].Sample(tau =>
        {
            // merged − τ = 0, so m = |τ| > 0
            Approx.Equal(tau.Select(v => 0.3f * v).ToArray(), ConsensusMerging.Merge([TaskTensor.Of("w", tau)], k: 1)[0], 0f);
        });
    }
}
