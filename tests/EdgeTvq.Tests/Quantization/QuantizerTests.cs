using CsCheck;
using EdgeTvq.Quantization;

namespace EdgeTvq.Tests.Quantization;

public class QuantizerTests
{
    private static readonly Gen<float[]> Tensors =
        Gen.Select(Gen.Float[-4f, 4f], Gen.Float[1e-4f, 10f], Gen.Int[1, 400])
           .SelectMany((center, spread, n) => Gen.Float[-1f, 1f].Array[n].Select(a => a.Select(v => center + spread * v).ToArray()));

    [Fact]
    public void Default_mode_error_is_within_half_a_step()
    {
        Gen.Select(Tensors, Gen.Int[1, 8]).Sample((x, bits) =>
        {
            var codes = new byte[x.Length];
            var xHat = new float[x.Length];
            var plan = AsymmetricQuantizer.RoundTrip(x, bits, QuantMode.Default, codes, xHat);
            if (plan.Kind == QuantPlanKind.Constant) return x.Zip(xHat).All(p => Math.Abs(p.First - p.Second) <= (x.Max() - x.Min()) / 2);
            double step = plan.Params.Step;
            double tolerance = step / 2 * (1 + 1e-5) + 4e-7 * x.Max(Math.Abs); // float32 rounding of Δ·(q − z)
            return x.Zip(xHat).All(p => Math.Abs((double)p.First - p.Second) <= tolerance);
        });
    }

    [Fact]
    public void Reference_mode_error_is_half_a_step_or_one_step_at_the_clamped_top()
    {
        Gen.Select(Tensors, Gen.Int[1, 8]).Sample((x, bits) =>
        {
            var codes = new byte[x.Length];
            var xHat = new float[x.Length];
            var plan = AsymmetricQuantizer.RoundTrip(x, bits, QuantMode.Reference, codes, xHat);
            if (plan.Kind == QuantPlanKind.Constant) return true;
            double step = plan.Params.Step;
            double slack = 1e-5 * step + 4e-7 * x.Max(Math.Abs);
            for (int i = 0; i < x.Length; i++)
            {
                double err = Math.Abs((double)x[i] - xHat[i]);
                double bound = codes[i] == plan.Params.MaxCode ? step : step / 2;
                if (err > bound + slack) return false;
            }
            return true;
        });
    }

    [Fact]
    public void Zero_is_exactly_representable_so_small_task_vector_entries_become_exact_zeros()
    {
        float[] x = [-1f, -0.01f, 0f, 0.004f, 0.02f, 2f];
        var xHat = new float[x.Length];
        AsymmetricQuantizer.RoundTrip(x, 4, QuantMode.Default, new byte[x.Length], xHat);
        Assert.Equal(0f, xHat[2]);
        Assert.Equal(0f, xHat[3]);
    }

    [Theory]
    [InlineData(QuantMode.Default)]
    [InlineData(QuantMode.Reference)]
    public void Constant_tensors_are_reproduced_exactly(QuantMode mode)
    {
        foreach (float c in new[] { 0f, 3.25f, -1e-3f, 1e30f })
        {
            var x = Enumerable.Repeat(c, 17).ToArray();
            var xHat = new float[17];
            var plan = AsymmetricQuantizer.RoundTrip(x, 2, mode, new byte[17], xHat);
            Assert.Equal(QuantPlanKind.Constant, plan.Kind);
            Assert.All(xHat, v => Assert.Equal(c, v));
        }
    }

    [Fact]
    public void Empty_tensors_are_planned_as_empty()
    {
        var plan = AsymmetricQuantizer.RoundTrip([], 3, QuantMode.Default, [], []);
        Assert.Equal(QuantPlanKind.Empty, plan.Kind);
    }

    [Fact]
    public void Nan_and_infinity_are_refused()
    {
        Assert.False(TensorRange.TryCompute([1f, float.NaN, 2f], out _, out long i));
        Assert.Equal(1, i);
        Assert.False(TensorRange.TryCompute([1f, 2f, float.NegativeInfinity], out _, out i));
        Assert.Equal(2, i);
        Assert.Throws<ArgumentException>(() => AsymmetricQuantizer.RoundTrip([0f, float.PositiveInfinity], 4, QuantMode.Default, new byte[2], new float[2]));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(9)]
    public void Bit_widths_outside_1_to_8_are_refused(int bits) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => AsymmetricQuantizer.Plan(new TensorRange(0, 1), 4, bits, QuantMode.Default));

    [Fact]
    public void Reference_mode_uses_the_reciprocal_scale_and_true_division()
    {
        // s = (1/range)·(2^b−1) in float32, z = −round(s·min), x̂ = (q − z)/s.
        float[] x = [-0.3f, 0.1f, 0.7f];
        var plan = AsymmetricQuantizer.Plan(new TensorRange(-0.3f, 0.7f), 3, 2, QuantMode.Reference);
        float range = 0.7f - -0.3f;
        float s = (1f / range) * 3;
        Assert.Equal(s, plan.Params.Scale);
        Assert.Equal(-MathF.Round(s * -0.3f), plan.Params.ZeroPoint);
        var codes = new byte[3];
        AsymmetricQuantizer.Quantize(x, plan.Params, codes);
        var xHat = new float[3];
        AsymmetricQuantizer.Dequantize(codes, plan.Params, xHat);
        for (int i = 0; i < 3; i++) Assert.Equal((codes[i] - plan.Params.ZeroPoint) / s, xHat[i]);
    }
}
