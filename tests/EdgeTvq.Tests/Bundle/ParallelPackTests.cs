using EdgeTvq.Bundle;
using EdgeTvq.Format;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Bundle;

/// <summary>Packing quantizes the tasks of each tensor on several cores; the bundle's records do not depend on how many.</summary>
public class ParallelPackTests
{
    [Theory]
    [InlineData("tvq", false, "default")]
    [InlineData("rtvq", false, "default")]
    [InlineData("fq", false, "default")]
    [InlineData("tvq", true, "default")]
    [InlineData("rtvq", true, "default")]
    [InlineData("fq", true, "reference")]
    [InlineData("rtvq", true, "reference")]
    [InlineData("rtvq-no-ec", true, "default")]
    public void Records_and_statistics_are_identical_for_any_thread_count(string scheme, bool large, string quantizer)
    {
        using var dir = new TempDir();
        // Large: tensors over one block of the spread base (65,536 elements) and of the streamed quantizer (16,384), odd sizes, a frozen layer.
        var (pre, tasks) = large ? LargeModel(5, seed: 17) : MemorySource.SmallModel(6, seed: 31);
        var mode = PackOptions.ParseMode(quantizer);
        PackOptions Options(int threads) => scheme.StartsWith("rtvq", StringComparison.Ordinal)
            ? new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2, Threads = threads, Mode = mode, ErrorCorrection = scheme == "rtvq" }
            : new PackOptions { Scheme = PackOptions.ParseScheme(scheme), Bits = 3, Threads = threads, Mode = mode };
        var packs = new[] { 1, 2, 3, 0 }.Select(threads =>
        {
            string outDir = dir[$"b{threads}"];
            var m = BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), Options(threads), outDir);
            return (Dir: outDir, Manifest: m);
        }).ToList();

        // Everything between header and trailer (the records) is byte-identical; the header differs only by the bundle id.
        static byte[] Records(string file)
        {
            var b = File.ReadAllBytes(file);
            return b[FormatConstants.HeaderSize..^FormatConstants.TrailerSize];
        }
        var reference = packs[0];
        foreach (var other in packs.Skip(1))
        {
            foreach (var (a, b) in reference.Manifest.Tasks.Zip(other.Manifest.Tasks))
            {
                Assert.Equal(a.Name, b.Name);
                Assert.Equal(Records(Path.Combine(reference.Dir, a.File)), Records(Path.Combine(other.Dir, b.File)));
                Assert.Equal(a.Stats!.QuantizationError, b.Stats!.QuantizationError);
                Assert.Equal(a.Stats.SparsityAfter, b.Stats.SparsityAfter);
            }
            if (scheme.StartsWith("rtvq", StringComparison.Ordinal))
                Assert.Equal(Records(Path.Combine(reference.Dir, FormatConstants.BaseFileName)), Records(Path.Combine(other.Dir, FormatConstants.BaseFileName)));
            Assert.True(BundleVerifier.Verify(other.Dir).Ok);
        }
    }

    private static (MemorySource Pre, List<MemorySource> Tasks) LargeModel(int tasks, int seed)
    {
        var rng = new Random(seed);
        var shapes = new (string, long[])[] { ("a.weight", [7, 10001]), ("b.weight", [128, 161]), ("frozen.weight", [16, 16]), ("a.bias", [301]) };
        var pre = shapes.ToDictionary(s => s.Item1, s => (s.Item2, Enumerable.Range(0, (int)s.Item2.Aggregate(1L, (a, b) => a * b)).Select(_ => MemorySource.Gauss(rng) * 0.02f).ToArray()));
        var list = new List<MemorySource>();
        for (int t = 0; t < tasks; t++)
            list.Add(new MemorySource($"task{t}.pt", pre.ToDictionary(kv => kv.Key, kv => (kv.Value.Item1,
                kv.Key == "frozen.weight" ? kv.Value.Item2.ToArray() : kv.Value.Item2.Select(x => x + MemorySource.Gauss(rng) * 1e-3f).ToArray()))));
        return (new MemorySource("pretrained.pt", pre), list);
    }
}
