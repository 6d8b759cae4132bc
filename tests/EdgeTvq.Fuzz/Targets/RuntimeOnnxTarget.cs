using EdgeTvq.Fuzz.Harness;
using EdgeTvq.Fuzz.Mutation;
using EdgeTvq.Fuzz.Seeds;
using EdgeTvq.Runtime.Inference;

namespace EdgeTvq.Fuzz.Targets;

/// <summary>
/// The device runtime's own ONNX reader (OnnxModelLayout through OnnxModelRewriter): list the initializers and move
/// them to graph inputs, which inlines external data. External data as in
/// <see cref="OnnxSeeds.WriteExternalData"/>.
/// </summary>
public sealed class RuntimeOnnxTarget : IFuzzTarget
{
    public string Name => "onnx-runtime";
    public IReadOnlySet<Type> Expected { get; } = new HashSet<Type> { typeof(OnnxModelException) };

    public IReadOnlyList<byte[]> Seeds(string scratch) => OnnxSeeds.Models(scratch);

    public byte[] Mutate(byte[] input, Random rng) => Proto.Mutate(input, rng);

    public void Run(byte[] input, string scratch)
    {
        OnnxSeeds.WriteExternalData(scratch);
        string path = Path.Combine(scratch, "case.onnx");
        File.WriteAllBytes(path, input);
        byte[] model = File.ReadAllBytes(path);
        var inits = OnnxModelRewriter.Initializers(model, path);
        _ = inits.Sum(i => i.Dims.Length);
        var rewritten = OnnxModelRewriter.WeightsAsInputs(model, path);
        if (rewritten.Bytes.Length == 0) throw new FuzzInvariantException("rewritten model is empty");
    }
}
