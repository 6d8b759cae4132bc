using EdgeTvq.Checkpoints;

namespace EdgeTvq.Tests.Support;

public static class TensorAssert
{
    /// <summary>Same shape and the same float32 bit patterns, element by element.</summary>
    public static void BitIdentical(CheckpointTensor expected, CheckpointTensor actual, string what)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        var e = expected.ToFloat32Array();
        var a = actual.ToFloat32Array();
        for (int i = 0; i < e.Length; i++)
            if (BitConverter.SingleToInt32Bits(e[i]) != BitConverter.SingleToInt32Bits(a[i]))
                Assert.Fail($"{what} '{expected.Name}'[{i}]: expected {e[i]:R}, got {a[i]:R}");
    }
}
