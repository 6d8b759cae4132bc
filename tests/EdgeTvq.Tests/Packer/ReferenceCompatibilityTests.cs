using EdgeTvq.Checkpoints;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Packer;

/// <summary>
/// edgetvq-pack with <c>--quantizer reference --policy authors</c> reproduces, value for value, the task vectors the
/// paper authors' code computes with PyTorch (fixtures/authors_reference.py), for FQ, TVQ and RTVQ, reading real
/// torch.save / safetensors / torch.onnx.export files, through the whole CLI: pack → bundle files → decode.
/// </summary>
[Collection(AuthorsReferenceCollection.Name)]
public class ReferenceCompatibilityTests(AuthorsReferenceFixture fx)
{
    public static IEnumerable<object[]> Cases() =>
    [
        ["fq8", new[] { "--scheme", "fq", "--bits", "8" }],
        ["fq4", new[] { "--scheme", "fq", "--bits", "4" }],
        ["tvq4", new[] { "--scheme", "tvq", "--bits", "4" }],
        ["tvq2", new[] { "--scheme", "tvq", "--bits", "2" }],
        ["rtvq_b3o2", new[] { "--scheme", "rtvq", "--base-bits", "3", "--offset-bits", "2" }],
        ["rtvq_b3o2_noec", new[] { "--scheme", "rtvq", "--base-bits", "3", "--offset-bits", "2", "--no-error-correction" }],
    ];

    private static int Cli(params string[] args) => EdgeTvq.Packer.Program.Main(args);

    private string[] TaskArgs(string ext) =>
        Enumerable.Range(0, 3).SelectMany(t => new[] { "--task", $"t{t}={fx[$"t{t}.{ext}"]}" }).ToArray();

    private static void AssertSameTensors(string expectedPath, string actualPath)
    {
        using var expected = CheckpointReader.Open(expectedPath);
        using var actual = CheckpointReader.Open(actualPath);
        Assert.Equal(expected.Tensors.Select(t => t.Name).Order(), actual.Tensors.Select(t => t.Name).Order());
        foreach (var e in expected.Tensors)
            TensorAssert.BitIdentical(e, actual.Find(e.Name)!, $"{Path.GetFileName(expectedPath)} (PyTorch) vs edgetvq");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Reference_mode_reproduces_the_authors_code_value_for_value(string name, string[] scheme)
    {
        using var dir = new TempDir();
        Assert.Equal(0, Cli(["pack", "--pretrained", fx["pre.pt"], .. TaskArgs("pt"), .. scheme, "--quantizer", "reference", "--policy", "authors", "--out", dir["b"]]));
        Assert.Equal(0, Cli("verify", dir["b"]));
        for (int t = 0; t < 3; t++)
        {
            string outFile = dir[$"t{t}.safetensors"];
            Assert.Equal(0, Cli("decode", "--bundle", dir["b"], "--task", $"t{t}", "--out", outFile, "--pretrained", fx["pre.pt"]));
            AssertSameTensors(fx[$"expected_{name}_t{t}.safetensors"], outFile);
        }
    }

    [Fact]
    public void The_authors_quantize_config_json_selects_the_same_bundle()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["quantize_config.json"], """
            { "quantize_target": "task_vector", "quantize_residual": true, "quantize_task_bit": 2,
              "quantize_base_bit": 3, "q_error_correction": false }
            """);
        Assert.Equal(0, Cli(["pack", "--pretrained", fx["pre.pt"], .. TaskArgs("pt"), "--config", dir["quantize_config.json"], "--quantizer", "reference", "--policy", "authors", "--out", dir["b"]]));
        Assert.Equal(0, Cli("decode", "--bundle", dir["b"], "--task", "t1", "--out", dir["t1.safetensors"]));
        AssertSameTensors(fx["expected_rtvq_b3o2_noec_t1.safetensors"], dir["t1.safetensors"]);
    }

    [Theory]
    [InlineData("safetensors")]
    [InlineData("onnx")]
    public void Safetensors_and_onnx_checkpoints_give_the_same_task_vectors_as_torch_save(string ext)
    {
        using var dir = new TempDir();
        Assert.Equal(0, Cli(["pack", "--pretrained", fx[$"pre.{ext}"], .. TaskArgs(ext), "--scheme", "tvq", "--bits", "4", "--quantizer", "reference", "--policy", "authors", "--out", dir["b"]]));
        Assert.Equal(0, Cli("decode", "--bundle", dir["b"], "--task", "t2", "--out", dir["t2.safetensors"]));
        AssertSameTensors(fx["expected_tvq4_t2.safetensors"], dir["t2.safetensors"]);
    }
}
