using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Format;
using EdgeTvq.Tests.Support;
using EdgeTvq.TestSupport;

namespace EdgeTvq.Tests.Zoo;

[CollectionDefinition(Name)]
public sealed class ZooCollection : ICollectionFixture<ZooFixture>
{
    public const string Name = "quick zoo";
}

[Collection(ZooCollection.Name)]
public class ZooTests(ZooFixture zoo)
{
    [Fact]
    public void Every_encoder_onnx_initializer_equals_the_state_dict_tensor_of_the_same_name_bit_for_bit()
    {
        using var onnx = CheckpointReader.Open(zoo.File_("encoder_onnx"));
        using var pt = CheckpointReader.Open(zoo.File_("pretrained_pt"));
        using var st = CheckpointReader.Open(zoo.File_("pretrained_safetensors"));
        Assert.Equal(pt.Tensors.Select(t => t.Name).Order(), onnx.Tensors.Select(t => t.Name).Order());
        foreach (var t in pt.Tensors)
        {
            TensorAssert.BitIdentical(t, onnx.Find(t.Name)!, "encoder.onnx");
            TensorAssert.BitIdentical(t, st.Find(t.Name)!, "pretrained.safetensors");
        }
    }

    [Fact]
    public void Every_finetune_has_the_encoder_tensors_and_a_head()
    {
        using var pre = CheckpointReader.Open(zoo.File_("pretrained_pt"));
        foreach (var (name, ptPath, stPath, labels) in zoo.Tasks)
        {
            using var ft = CheckpointReader.Open(ptPath);
            using var st = CheckpointReader.Open(stPath);
            foreach (var t in pre.Tensors) Assert.Equal(t.Shape, ft.Find(t.Name)?.Shape);
            var head = ft.Find("head.weight");
            Assert.NotNull(head);
            Assert.Equal(labels.Length, head!.Shape[0]);
            foreach (var t in ft.Tensors) TensorAssert.BitIdentical(t, st.Find(t.Name)!, $"{name}.safetensors");
        }
    }

    [Fact]
    public void The_zoo_packs_as_rtvq_b3o2_and_decodes_close_to_its_task_vectors()
    {
        using var dir = new TempDir();
        using var pre = new CheckpointTensorSource(zoo.File_("pretrained_pt"));
        var sources = zoo.Tasks.Select(t => (t.Name, Source: new CheckpointTensorSource(t.Pt))).ToList();
        try
        {
            var m = BundlePacker.Pack(pre, sources.Select(s => new PackTask(s.Name, s.Source)).ToList(),
                new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 }, dir["b"]);
            Assert.True(BundleVerifier.Verify(dir["b"]).Ok);
            Assert.All(m.Tasks, t => Assert.Equal(["head.bias", "head.weight"], t.OwnTensors.Select(o => o.Name)));
            var report = BundleInspector.Inspect(dir["b"]);
            Assert.Equal(2.375, report.PaperBitsPerParameter);
            // Real task vectors: RTVQ B3O2 keeps them, relative L2 error well below 1; most entries become exact zeros.
            foreach (var task in m.Tasks)
            {
                double err2 = 0, norm2 = 0;
                TaskDecoder.Decode(dir["b"], m, task, null, DecodeTarget.TaskVector, d =>
                {
                    if (d.IsOwn || m.Tensors.First(e => e.Name == d.Name).Storage != "quantized") return;
                    var tau = new float[d.Values.Length];
                    var p = new float[d.Values.Length];
                    pre.ReadFloat32(d.Name, p);
                    sources.First(s => s.Name == task.Name).Source.ReadFloat32(d.Name, tau);
                    for (int i = 0; i < tau.Length; i++)
                    {
                        double t = tau[i] - p[i], e = t - d.Values[i];
                        err2 += e * e;
                        norm2 += t * t;
                    }
                });
                Assert.True(Math.Sqrt(err2 / norm2) < 0.8, $"{task.Name}: relative error {Math.Sqrt(err2 / norm2):F3}");
                Assert.True(task.Stats!.SparsityAfter > task.Stats.SparsityBefore);
            }
        }
        finally
        {
            foreach (var s in sources) s.Source.Dispose();
        }
    }
}
