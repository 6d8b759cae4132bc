using EdgeTvq.Bundle;
using EdgeTvq.Format;
using EdgeTvq.Merging.Methods;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Bundle;

public class BundleTableTests
{
    [Theory]
    [InlineData(Scheme.Rtvq)]
    [InlineData(Scheme.Fq)]
    public void Decodes_every_task_into_the_tensor_table_and_own_tensors(Scheme scheme)
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(3, seed: 11);
        var options = scheme == Scheme.Rtvq ? new PackOptions { Scheme = scheme, BaseBits = 3, OffsetBits = 2 } : new PackOptions { Scheme = scheme, Bits = 4 };
        BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), options, dir["b"]);
        var m = ManifestIO.Load(dir["b"]);
        if (scheme == Scheme.Fq) Assert.ThrowsAny<ArgumentException>(() => BundleTable.Decode(dir["b"], null));
        var bt = BundleTable.Decode(dir["b"], pre);
        Assert.Equal(["t0", "t1", "t2"], bt.Tasks);
        Assert.Equal(m.Tensors.Where(e => e.Storage != "skipped").Select(e => e.Name), bt.Table.Select(t => t.Name));
        Assert.Equal(2, bt.TaskIndex("t2"));
        Assert.Throws<ArgumentException>(() => bt.TaskIndex("nope"));
        for (int t = 0; t < 3; t++)
        {
            var own = new List<DecodedTensor>();
            TaskDecoder.Decode(dir["b"], m, m.Tasks[t], pre, DecodeTarget.TaskVector, d =>
            {
                if (d.IsOwn) { own.Add(d); return; }
                Assert.Equal(d.Values, bt.Table.Single(x => x.Name == d.Name).Tau[t]);
            });
            Assert.Equal(["head.weight", "head.bias"], own.Select(o => o.Name).Order().Reverse());
            Assert.Equal(own.Select(o => o.Values), bt.Own[$"t{t}"].Select(o => o.Values));
        }
        var other = new MemorySource("other.pt", pre.Data.ToDictionary(kv => kv.Key, kv => (kv.Value.Shape, kv.Value.Values.Select(v => v + 1).ToArray())));
        Assert.Throws<EdgeTvq.Format.BundleFormatException>(() => BundleTable.Decode(dir["b"], other));
    }
}
