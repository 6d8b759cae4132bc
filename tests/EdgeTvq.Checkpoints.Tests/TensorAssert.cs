using System.Runtime.InteropServices;
using Xunit;

namespace EdgeTvq.Checkpoints.Tests;

internal static class TensorAssert
{
    /// <summary>Names, order, dtypes, shapes, raw bytes and float32 values all equal, bit for bit.</summary>
    public static void Matches(IReadOnlyList<ExpectedTensor> expected, ICheckpoint actual)
    {
        Assert.Equal(expected.Select(e => e.Name), actual.Tensors.Select(t => t.Name));
        for (int i = 0; i < expected.Count; i++) Matches(expected[i], actual.Tensors[i]);
    }

    public static void Matches(ExpectedTensor e, CheckpointTensor t)
    {
        Assert.Equal(e.Name, t.Name);
        Assert.Equal(e.DType, t.DType);
        Assert.Equal(e.Shape, t.Shape);
        Assert.Equal(e.Shape.Aggregate(1L, (a, b) => a * b), t.ElementCount);
        Assert.True(e.Raw.AsSpan().SequenceEqual(t.RawBytes), $"raw bytes of '{e.Name}' differ");
        Assert.Equal(e.Float32 is not null, t.IsFloating);
        if (e.Float32 is not null) Float32BitsEqual(e.Name, e.Float32, t.ToFloat32Array());
    }

    /// <summary>Bit-exact float32 comparison, NaN payloads and quiet bits included.</summary>
    public static void Float32BitsEqual(string name, byte[] expectedBytes, float[] actual)
    {
        ReadOnlySpan<float> expected = MemoryMarshal.Cast<byte, float>(expectedBytes);
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < actual.Length; i++)
        {
            if (BitConverter.SingleToUInt32Bits(expected[i]) != BitConverter.SingleToUInt32Bits(actual[i]))
                Assert.Fail($"'{name}'[{i}]: expected {expected[i]:R} (0x{BitConverter.SingleToUInt32Bits(expected[i]):X8}), got {actual[i]:R} (0x{BitConverter.SingleToUInt32Bits(actual[i]):X8})");
        }
    }
}
