using EdgeTvq.Bundle;
using EdgeTvq.Format;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Format;

/// <summary>Every single-byte flip and every truncation of every file of a small bundle is detected with a clear error.</summary>
public class CorruptionTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _bundle;

    public CorruptionTests()
    {
        var (pre, tasks) = TinyModel();
        _bundle = _dir["bundle"];
        BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(),
            new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 }, _bundle);
    }

    private static (MemorySource, List<MemorySource>) TinyModel()
    {
        var rng = new Random(4);
        float[] R(int n, float s) => Enumerable.Range(0, n).Select(_ => MemorySource.Gauss(rng) * s).ToArray();
        var pre = new MemorySource("pre.pt", new() { ["a.weight"] = ([4, 6], R(24, 1)), ["a.bias"] = ([4], R(4, 1)), ["b.weight"] = ([3, 5], R(15, 1)) });
        var tasks = Enumerable.Range(0, 2).Select(t => new MemorySource($"t{t}.pt", pre.Data.ToDictionary(kv => kv.Key,
            kv => (kv.Value.Shape, kv.Value.Values.Zip(R(kv.Value.Values.Length, 0.05f), (a, b) => a + b).ToArray())))).ToList();
        tasks[0].Data["head.weight"] = ([2, 6], R(12, 1));
        return (pre, tasks);
    }

    public void Dispose() => _dir.Dispose();

    public static IEnumerable<object[]> Files() => [["manifest.json"], ["base.tvqb"], ["t0.tvqt"], ["t1.tvqt"]];

    private void AssertDetected(string file, string what)
    {
        BundleVerifier.Result result;
        try
        {
            result = BundleVerifier.Verify(_bundle);
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"{what}: verify crashed with {e.GetType().Name}: {e.Message}");
        }
        Assert.False(result.Ok, $"{what}: not detected");
        Assert.All(result.Problems, p => Assert.False(string.IsNullOrWhiteSpace(p)));
        Assert.Contains(result.Problems, p => p.Contains(file) || p.Contains("manifest"));
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Every_single_byte_flip_is_detected(string file)
    {
        Assert.True(BundleVerifier.Verify(_bundle).Ok);
        string path = Path.Combine(_bundle, file);
        byte[] original = File.ReadAllBytes(path);
        for (int i = 0; i < original.Length; i++)
        {
            var damaged = (byte[])original.Clone();
            damaged[i] ^= (byte)(1 << (i % 8));
            File.WriteAllBytes(path, damaged);
            AssertDetected(file, $"{file} bit {i % 8} of byte {i} flipped");
        }
        File.WriteAllBytes(path, original);
        Assert.True(BundleVerifier.Verify(_bundle).Ok);
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Every_truncation_is_detected(string file)
    {
        string path = Path.Combine(_bundle, file);
        byte[] original = File.ReadAllBytes(path);
        for (int n = 0; n < original.Length; n++)
        {
            File.WriteAllBytes(path, original[..n]);
            AssertDetected(file, $"{file} truncated to {n} bytes");
        }
        File.WriteAllBytes(path, original);
    }

    [Fact]
    public void Appended_bytes_and_missing_files_are_detected()
    {
        File.AppendAllText(Path.Combine(_bundle, "t1.tvqt"), "x");
        AssertDetected("t1.tvqt", "appended byte");
        File.Delete(Path.Combine(_bundle, "t1.tvqt"));
        AssertDetected("t1.tvqt", "missing file");
    }

    [Fact]
    public void Errors_name_file_record_and_tensor()
    {
        string path = Path.Combine(_bundle, "t0.tvqt");
        byte[] bytes = File.ReadAllBytes(path);
        // Damage the last byte of the second record's payload region: find the tensor name and flip a byte after it.
        int at = bytes.AsSpan().IndexOf("a.weight"u8) + 8 + 2 * 8 + 3;
        bytes[at] ^= 0xFF;
        File.WriteAllBytes(path, bytes);
        var result = BundleVerifier.Verify(_bundle);
        var problem = Assert.Single(result.Problems);
        Assert.Contains("t0.tvqt", problem);
        Assert.Contains("record", problem);
        Assert.Contains("checksum", problem);
    }
}
