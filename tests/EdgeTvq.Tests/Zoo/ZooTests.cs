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
    public void Every_task_has_a_validation_split_apart_from_train_and_test()
    {
        foreach (var t in zoo.Manifest.GetProperty("tasks").EnumerateArray())
        {
            string name = t.GetProperty("name").GetString()!;
            var files = t.GetProperty("files");
            var split = t.GetProperty("split");
            Assert.True(files.TryGetProperty("val_images", out var valImages), $"{name}: no validation split; rebuild the zoo (bench/zoo/build.sh --quick)");
            string images = Path.Combine(zoo.Dir, valImages.GetString()!), labels = Path.Combine(zoo.Dir, files.GetProperty("val_labels").GetString()!);
            int n = split.GetProperty("validation").GetInt32();
            // idx3 [n, 28, 28] and idx1 [n], the sizes bench/zoo/README.md states.
            Assert.Equal(16 + n * 28 * 28, new FileInfo(images).Length);
            Assert.Equal(8 + n, new FileInfo(labels).Length);
            Assert.Equal(name.StartsWith("quickdraw_", StringComparison.Ordinal) ? 80 : 1000, n);
            // Train and validation partition the training data the task had before the split (official 60,000 / 800 drawings).
            Assert.Equal(name.StartsWith("quickdraw_", StringComparison.Ordinal) ? 800 : 60000, split.GetProperty("train").GetInt32() + n);
            Assert.NotEqual(files.GetProperty("test_images").GetString(), valImages.GetString());
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
    public void On_real_task_vectors_error_falls_with_bits_and_error_correction_helps()
    {
        using var dir = new TempDir();
        using var pre = new CheckpointTensorSource(zoo.File_("pretrained_pt"));
        var sources = zoo.Tasks.Select(t => (t.Name, Source: new CheckpointTensorSource(t.Pt))).ToList();
        try
        {
            BundleManifest PackAs(string name, PackOptions o) =>
                BundlePacker.Pack(pre, sources.Select(s => new PackTask(s.Name, s.Source)).ToList(), o, dir[name]);
            var rtvq = PackAs("rtvq", new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 });
            var noEc = PackAs("noec", new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2, ErrorCorrection = false });
            var tvq2 = PackAs("tvq2", new PackOptions { Scheme = Scheme.Tvq, Bits = 2 });
            var tvq4 = PackAs("tvq4", new PackOptions { Scheme = Scheme.Tvq, Bits = 4 });
            Assert.True(BundleVerifier.Verify(dir["rtvq"]).Ok);
            Assert.All(rtvq.Tasks, t => Assert.Equal(["head.bias", "head.weight"], t.OwnTensors.Select(o => o.Name)));
            Assert.Equal(2.375, BundleInspector.Inspect(dir["rtvq"]).PaperBitsPerParameter);
            double corrected = 0, uncorrected = 0;
            for (int i = 0; i < rtvq.Tasks.Count; i++)
            {
                var (r, n, t2, t4) = (rtvq.Tasks[i].Stats!, noEc.Tasks[i].Stats!, tvq2.Tasks[i].Stats!, tvq4.Tasks[i].Stats!);
                string task = rtvq.Tasks[i].Name;
                // (Whether RTVQ B3O2 beats TVQ2 depends on how much the tasks share; on the quick zoo it does for
                // MNIST/Fashion-MNIST and not for the QuickDraw tasks, whose offsets inherit the larger tasks' range.)
                Assert.True(t4.QuantizationError < t2.QuantizationError / 3, $"{task}: TVQ4 error {t4.QuantizationError:E3} vs TVQ2 {t2.QuantizationError:E3}");
                Assert.True(t4.QuantizationError < r.QuantizationError, $"{task}: TVQ4 error {t4.QuantizationError:E3} not below RTVQ B3O2 {r.QuantizationError:E3}");
                (corrected, uncorrected) = (corrected + r.QuantizationError, uncorrected + n.QuantizationError);
                Assert.True(r.SparsityAfter > r.SparsityBefore, $"{task}: quantization should turn small entries into exact zeros");
            }
            // Summed over the tasks, error correction lowers the error (task by task it can tie or lose by a hair).
            Assert.True(corrected < uncorrected, $"error correction: {corrected:E4} vs {uncorrected:E4} without");
            // The decoded task vector is closer to τ than the zero vector is (relative L2 error below 1).
            var m = ManifestIO.Load(dir["rtvq"]);
            foreach (var task in m.Tasks)
            {
                double err2 = 0, norm2 = 0;
                TaskDecoder.Decode(dir["rtvq"], m, task, null, DecodeTarget.TaskVector, d =>
                {
                    if (d.IsOwn || m.Tensors.First(e => e.Name == d.Name).Storage != "quantized") return;
                    var ft = new float[d.Values.Length];
                    var p = new float[d.Values.Length];
                    pre.ReadFloat32(d.Name, p);
                    sources.First(s => s.Name == task.Name).Source.ReadFloat32(d.Name, ft);
                    for (int i = 0; i < ft.Length; i++)
                    {
                        double tau = ft[i] - p[i], e = tau - d.Values[i];
                        err2 += e * e;
                        norm2 += tau * tau;
                    }
                });
                Assert.True(Math.Sqrt(err2 / norm2) < 1.0, $"{task.Name}: relative error {Math.Sqrt(err2 / norm2):F3}");
            }
        }
        finally
        {
            foreach (var s in sources) s.Source.Dispose();
        }
    }
}
