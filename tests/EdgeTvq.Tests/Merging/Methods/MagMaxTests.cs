using CsCheck;
using EdgeTvq.Merging.Methods;

namespace EdgeTvq.Tests.Merging.Methods;

public class MagMaxTests
{
    [Fact]
    public void Largest_magnitude_wins_and_the_later_task_wins_ties()
    {
        var table = new[] { TaskTensor.Of("w", [1f, -3f, 2f], [-1f, 2f, -5f]) };
        // [0]: |1| = |−1| tie → later task −1 → 0.5·−1 = −0.5 ; [1]: |−3| > |2| → −1.5 ; [2]: |−5| > |2| → −2.5
        Approx.Equal([-0.5f, -1.5f, -2.5f], MagMax.Merge(table)[0]);
    }

    [Fact]
    public void Each_entry_is_half_of_some_task_entry_of_maximal_magnitude()
    {
        Gen.Select(Gen.Int[1, 4], Gen.Int[0, 20]).SelectMany((t, n) => Gen.Float[-4f, 4f].Array[n].Array[t]).Sample(tau =>
        {
            var delta = MagMax.Merge([new TaskTensor("w", [tau[0].Length], tau)])[0];
            for (int i = 0; i < delta.Length; i++)
            {
                float max = 0f;
                bool found = false;
                foreach (var v in tau) max = Math.Max(max, Math.Abs(v[i]));
                foreach (var v in tau) found |= Math.Abs(v[i]) == max && 0.5f * v[i] == delta[i];
                Assert.True(found, $"entry {i}");
            }
        });
    }
}
