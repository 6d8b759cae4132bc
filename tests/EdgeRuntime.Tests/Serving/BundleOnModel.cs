using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Format;
using EdgeTvq.Runtime.Tests.Inference;

namespace EdgeTvq.Runtime.Tests.Serving;

/// <summary>
/// A bundle made from the inference fixture: θ_pre = the ONNX model's initializers, two "fine-tunes" = the fixture's
/// deliberately different weight variants (tasks "a" and "b"), packed with the given scheme into a temp folder.
/// </summary>
public sealed class BundleOnModel : IDisposable
{
    public string Dir { get; } = Path.Combine(Path.GetTempPath(), "edgetvq-runtime-bundle-" + Guid.NewGuid().ToString("N")[..10]);
    public string Bundle => Path.Combine(Dir, "bundle");
    public MergedReference Fixture { get; }

    public BundleOnModel(MergedReference fixture, PackOptions options)
    {
        Fixture = fixture;
        Directory.CreateDirectory(Dir);
        using var pre = new CheckpointTensorSource(fixture.ModelPath);
        using var a = new CheckpointTensorSource(fixture.PathOf("variant_a.safetensors"));
        using var b = new CheckpointTensorSource(fixture.PathOf("variant_b.safetensors"));
        BundlePacker.Pack(pre, [new PackTask("a", a), new PackTask("b", b)], options, Bundle);
    }

    public static PackOptions Tvq8 => new() { Scheme = Scheme.Tvq, Bits = 8, Policy = TensorPolicy.Parse("all") };
    public static PackOptions RtvqB3O2 => new() { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 };

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}
