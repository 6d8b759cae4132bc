using EdgeTvq.AdaMerging;
using TorchSharp;
using static TorchSharp.torch;

namespace EdgeTvq.Tests.AdaMerging;

public class AdaMergerTests
{
    private const int Tasks = 2, In = 3, Hidden = 4, Out = 3, Classes = 3;

    /// <summary>A tiny encoder in double precision, random task vectors and heads, one batch of 5 inputs per task.</summary>
    private static (nn.Module<Tensor, Tensor> Encoder, List<MergeInput> Inputs, List<LinearHead> Heads, List<Tensor> Batches) Tiny(int seed)
    {
        torch.manual_seed(seed);
        var rng = new Random(seed);
        float R() => (float)(rng.NextDouble() * 2 - 1);
        var encoder = nn.Sequential(("0", nn.Linear(In, Hidden)), ("1", nn.Tanh()), ("2", nn.Linear(Hidden, Out)));
        encoder.to(ScalarType.Float64);
        var inputs = encoder.named_parameters().Select(p =>
        {
            long n = p.parameter.numel();
            return new MergeInput(p.name, p.parameter.shape, Enumerable.Range(0, (int)n).Select(_ => R()).ToArray(),
                Enumerable.Range(0, Tasks).Select(_ => Enumerable.Range(0, (int)n).Select(_ => R()).ToArray()).ToArray());
        }).ToList();
        var heads = Enumerable.Range(0, Tasks).Select(_ => new LinearHead(
            Enumerable.Range(0, Classes * Out).Select(_ => 2 * R()).ToArray(), Enumerable.Range(0, Classes).Select(_ => R()).ToArray(), Classes, Out)).ToList();
        var batches = Enumerable.Range(0, Tasks).Select(_ => tensor(Enumerable.Range(0, 5 * In).Select(_ => (double)R()).ToArray(), [5, In])).ToList();
        return (encoder, inputs, heads, batches);
    }

    [Theory]
    [InlineData(Granularity.LayerWise)]
    [InlineData(Granularity.TaskWise)]
    public void Gradient_matches_central_finite_differences(Granularity granularity)
    {
        var (encoder, inputs, heads, batches) = Tiny(7);
        using var merger = new AdaMerger(encoder, inputs, heads, granularity);
        var rng = new Random(1);
        for (int i = 0; i < merger.Lambda.GetLength(0); i++)
            for (int j = 0; j < merger.Lambda.GetLength(1); j++) merger.Lambda[i, j] = 0.1 + 0.8 * rng.NextDouble();
        var (loss, grad) = merger.LossAndGradient(batches);
        Assert.Equal(merger.Loss(batches), loss, 12);
        const double h = 1e-6;
        double maxGrad = 0;
        for (int i = 0; i < grad.GetLength(0); i++)
            for (int j = 0; j < grad.GetLength(1); j++)
            {
                double keep = merger.Lambda[i, j];
                merger.Lambda[i, j] = keep + h;
                double up = merger.Loss(batches);
                merger.Lambda[i, j] = keep - h;
                double down = merger.Loss(batches);
                merger.Lambda[i, j] = keep;
                double numeric = (up - down) / (2 * h);
                maxGrad = Math.Max(maxGrad, Math.Abs(numeric));
                Assert.True(Math.Abs(numeric - grad[i, j]) <= 1e-6 * Math.Max(1, Math.Abs(numeric)),
                    $"λ[{i},{j}]: analytic {grad[i, j]:R}, finite differences {numeric:R}");
            }
        Assert.True(maxGrad > 1e-3, "the check needs a loss that depends on λ");
    }

    [Fact]
    public void Clamped_coefficients_get_no_gradient_and_merge_at_the_bound()
    {
        var (encoder, inputs, heads, batches) = Tiny(8);
        using var merger = new AdaMerger(encoder, inputs, heads, Granularity.LayerWise);
        merger.Lambda[0, 0] = -0.5;
        merger.Lambda[1, 1] = 1.5;
        var (_, grad) = merger.LossAndGradient(batches);
        Assert.Equal(0, grad[0, 0]);
        Assert.Equal(0, grad[1, 1]);
        Assert.NotEqual(0, grad[0, 1]);
        Assert.Equal(0, merger.Coefficient(0, 0));
        Assert.Equal(1, merger.Coefficient(1, 1));
        // θ(λ) = θ_pre + Σ_t clamp(λ_t) τ̂_t, entry by entry
        var w = encoder.named_parameters().First().parameter.data<double>().ToArray();
        for (int i = 0; i < w.Length; i++)
            Assert.Equal(inputs[0].Pretrained[i] + 0 * inputs[0].Tau[0][i] + 0.3 * inputs[0].Tau[1][i], w[i], 6);
    }

    [Fact]
    public void Adam_step_equals_torch_optim_adam()
    {
        var (encoder, inputs, heads, _) = Tiny(9);
        using var merger = new AdaMerger(encoder, inputs, heads, Granularity.TaskWise) { LearningRate = 0.01 };
        var p = new TorchSharp.Modules.Parameter(tensor(new[] { 0.3, 0.3 }, [2, 1]));
        var adam = optim.Adam([p], lr: 0.01);
        double[][] grads = [[0.5, -2.0], [0.1, -0.3], [-1.0, 0.0], [2.0, 4.0]];
        foreach (var g in grads)
        {
            merger.AdamStep(new double[,] { { g[0] }, { g[1] } });
            p.grad = tensor(g, [2, 1]);
            adam.step();
        }
        var expected = p.data<double>().ToArray();
        Assert.Equal(expected[0], merger.Lambda[0, 0], 12);
        Assert.Equal(expected[1], merger.Lambda[1, 0], 12);
    }

    [Fact]
    public void Refuses_a_model_without_the_bundle_tensors()
    {
        var (encoder, inputs, heads, _) = Tiny(10);
        var renamed = inputs.Select((x, i) => i == 0 ? x with { Name = "blocks.0.attn.qkv.weight" } : x).ToList();
        var e = Assert.Throws<ArgumentException>(() => new AdaMerger(encoder, renamed, heads, Granularity.LayerWise));
        Assert.Contains("blocks.0.attn.qkv.weight", e.Message);
        var reshaped = inputs.Select((x, i) => i == 0 ? x with { Shape = [Hidden * In] } : x).ToList();
        Assert.Throws<ArgumentException>(() => new AdaMerger(encoder, reshaped, heads, Granularity.LayerWise));
    }
}
