using EdgeTvq.Bundle;
using EdgeTvq.Format;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Bundle;

/// <summary>Packing quantizes the tasks of each tensor on several cores; the bundle's records do not depend on how many.</summary>
public class ParallelPackTests
{
    [Theory]
    [InlineData("tvq")]
    [InlineData("rtvq")]
    [InlineData("fq")]
    public void Records_and_statistics_are_identical_for_any_thread_count(string scheme)
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(6, seed: 31);
        PackOptions Options(int threads) => scheme == "rtvq"
            ? new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2, Threads = threads }
            : new PackOptions { Scheme = PackOptions.ParseScheme(scheme), Bits = 3, Threads = threads };
        var packs = new[] { 1, 3, 0 }.Select(threads =>
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
            if (scheme == "rtvq")
                Assert.Equal(Records(Path.Combine(reference.Dir, FormatConstants.BaseFileName)), Records(Path.Combine(other.Dir, FormatConstants.BaseFileName)));
            Assert.True(BundleVerifier.Verify(other.Dir).Ok);
        }
    }
}
