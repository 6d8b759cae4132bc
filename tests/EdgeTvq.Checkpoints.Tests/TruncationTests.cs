using Xunit;

namespace EdgeTvq.Checkpoints.Tests;

/// <summary>Every prefix of a valid file, and byte-level corruptions, fail with CheckpointFormatException only.</summary>
[Collection(PythonCheckpointsCollection.Name)]
public sealed class TruncationTests(PythonCheckpoints fx)
{
    [Theory]
    [InlineData("tiny.pt", 1)]
    [InlineData("tiny.safetensors", 1)]
    [InlineData("tiny.onnx", 1)]
    [InlineData("dtypes.onnx", 1)]
    [InlineData("views.pt", 1)]
    [InlineData("module.pt", 37)]
    [InlineData("model.onnx", 13)]
    [InlineData("model_f16.safetensors", 11)]
    public void Every_truncation_raises_CheckpointFormatException(string file, int step)
    {
        byte[] full = File.ReadAllBytes(fx.PathOf(file));
        using var dir = new TempDir();
        string path = dir.File(Path.GetFileName(file));
        for (int length = 0; length < full.Length; length += step)
        {
            File.WriteAllBytes(path, full[..length]);
            var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(path));
            Assert.Equal(path, e.FilePath);
            Assert.Contains(path, e.Message);
        }
    }

    [Theory]
    [InlineData("tiny.pt")]
    [InlineData("tiny.safetensors")]
    [InlineData("tiny.onnx")]
    [InlineData("dtypes.onnx")]
    public void Corrupted_bytes_read_or_raise_CheckpointFormatException(string file)
    {
        byte[] full = File.ReadAllBytes(fx.PathOf(file));
        using var dir = new TempDir();
        string path = dir.File(file);
        foreach (byte mask in new byte[] { 0xFF, 0x01, 0x80 })
        {
            for (int i = 0; i < full.Length; i++)
            {
                byte[] bad = (byte[])full.Clone();
                bad[i] ^= mask;
                File.WriteAllBytes(path, bad);
                PickleSafetyTests.OpenAndReadOrFormatError(path);
            }
        }
    }
}
