using EdgeTvq.Merging.Methods;

namespace EdgeTvq.Tests.Merging.Methods;

public class LiNeSTests
{
    [Theory]
    [InlineData("visual.transformer.resblocks.11.mlp.c_fc.weight", 11)]
    [InlineData("blocks.0.attn.qkv.weight", 0)]
    [InlineData("visual.transformer.resblocks.1.ln_1.bias", 1)]
    [InlineData("blocks.3", -1)]
    [InlineData("visual.ln_post.weight", -1)]
    [InlineData("layers.2.weight", -1)]
    public void Block_index_is_parsed_from_the_pattern(string name, int block) =>
        Assert.Equal(block, LiNeS.BlockIndex(name));

    [Fact]
    public void Custom_pattern_is_honoured() =>
        Assert.Equal(2, LiNeS.BlockIndex("model.layers.2.self_attn.q_proj.weight", "layers.{i}."));

    private static readonly TaskTensor[] Table =
    [
        TaskTensor.Of("visual.conv1.weight", [1f], [3f]),
        TaskTensor.Of("visual.transformer.resblocks.0.w", [2f], [2f]),
        TaskTensor.Of("visual.transformer.resblocks.1.w", [1f], [3f]),
        TaskTensor.Of("visual.transformer.resblocks.2.w", [4f], [0f]),
    ];

    [Fact]
    public void Task_arithmetic_scales_grow_linearly_with_depth()
    {
        // T = 2 → α = 1/2, β = 0.5, L inferred = 3; every Σ τ = 4
        // conv: 0.5·4 = 2 ; block 0: (0.5 + 0)·4 = 2 ; block 1: (0.5 + 0.5·1/2)·4 = 3 ; block 2: (0.5 + 0.5·2/2)·4 = 4
        var delta = LiNeS.TaskArithmetic(Table);
        Approx.Equal([2f], delta[0]);
        Approx.Equal([2f], delta[1]);
        Approx.Equal([3f], delta[2]);
        Approx.Equal([4f], delta[3]);
        // L = 5 given: block 2 → (0.5 + 0.5·2/4)·4 = 3
        Approx.Equal([3f], LiNeS.TaskArithmetic(Table, numBlocks: 5)[3]);
    }

    [Fact]
    public void Alpha_is_the_norm_ratio_over_T()
    {
        // τ_MTL = ½ Σ τ everywhere → ‖Σ τ‖₁/‖τ_MTL‖₁ = 2, over T = 2 → 1
        float[][] half = [[2f], [2f], [2f], [2f]];
        Assert.Equal(1f, LiNeS.Alpha(Table, half), 5);
    }
}
