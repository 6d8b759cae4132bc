using System.Diagnostics;
using System.Text.Json;
using EdgeTvq.Bundle;
using EdgeTvq.Format;
using EdgeTvq.Quantization;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Format;

/// <summary>
/// fixtures/independent_reader.py was written from docs/bundle-format.md alone (Python standard library, its own
/// xxHash64). These tests prove the spec suffices: it verifies bundles the packer writes, decodes them to the same
/// float32 bits as the C# decoder, and rejects damage.
/// </summary>
public class IndependentReaderTests
{
    internal static (int Code, string Output) Python(params string[] args)
    {
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("EDGETVQ_PYTHON") ?? "/usr/bin/python3")
        { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "fixtures", "independent_reader.py"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(2)), "independent reader timed out");
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    public static IEnumerable<object[]> Bundles() =>
    [
        [new PackOptions { Scheme = Scheme.Tvq, Bits = 4 }],
        [new PackOptions { Scheme = Scheme.Tvq, Bits = 3, Mode = QuantMode.Reference, Policy = TensorPolicy.Parse("all") }],
        [new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 }],
        [new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 2, OffsetBits = 5, ErrorCorrection = false, Mode = QuantMode.Reference }],
        [new PackOptions { Scheme = Scheme.Fq, Bits = 6 }],
        // Version 4: grouped records (kind 7), affine per G elements or per row, and BitDelta's signs.
        [new PackOptions { Scheme = Scheme.Tvq, Bits = 3, Group = new GroupSpec(20) }],
        [new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2, Group = GroupSpec.Row }],
        [new PackOptions { Scheme = Scheme.Tvq, Bits = 1, Signs = true, Group = GroupSpec.Row }],
    ];

    [Fact]
    public void Its_xxhash64_and_packing_pass_their_self_test()
    {
        var (code, output) = Python("selftest");
        Assert.True(code == 0, output);
    }

    [Theory]
    [MemberData(nameof(Bundles))]
    public void It_verifies_and_decodes_packer_bundles_to_the_same_bits(PackOptions options)
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(3, seed: 17);
        tasks[1].Data["blocks.0.mlp.fc1.bias"] = (pre.Data["blocks.0.mlp.fc1.bias"].Shape, (float[])pre.Data["blocks.0.mlp.fc1.bias"].Values.Clone()); // τ = 0: constant
        BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), options, dir["b"]);

        var (code, output) = Python("verify", dir["b"]);
        Assert.True(code == 0, output);
        Assert.Contains("OK", output);

        Directory.CreateDirectory(dir["pre"]);
        foreach (var (name, (_, values)) in pre.Data)
            File.WriteAllBytes(Path.Combine(dir["pre"], name + ".f32"), System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

        var m = ManifestIO.Load(dir["b"]);
        for (int t = 0; t < 3; t++)
        {
            string outDir = dir[$"out{t}"];
            string[] args = options.Scheme == Scheme.Fq
                ? ["decode", dir["b"], $"t{t}", outDir, "--pretrained-bin", dir["pre"]]
                : ["decode", dir["b"], $"t{t}", outDir];
            (code, output) = Python(args);
            Assert.True(code == 0, output);

            var expected = new Dictionary<string, float[]>();
            TaskDecoder.Decode(dir["b"], m, m.Tasks[t], options.Scheme == Scheme.Fq ? pre : null, DecodeTarget.TaskVector, d => expected[d.Name] = d.Values);
            using var index = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(outDir, "index.json")));
            var entries = index.RootElement.GetProperty("tensors").EnumerateArray().ToList();
            Assert.Equal(expected.Count, entries.Count);
            foreach (var e in entries)
            {
                string name = e.GetProperty("name").GetString()!;
                var bytes = File.ReadAllBytes(Path.Combine(outDir, e.GetProperty("file").GetString()!));
                Assert.True(System.Runtime.InteropServices.MemoryMarshal.AsBytes(expected[name].AsSpan()).SequenceEqual(bytes),
                    $"{options.Scheme} t{t} '{name}': the independent reader decodes other values than the C# decoder");
            }
        }
    }

    /// <summary>Damaged grouped records (kind 7) with valid checksums: only the value rules of section 4.2 can refuse them.</summary>
    [Theory]
    [MemberData(nameof(Bundle.GroupedBundleTests.Damage), MemberType = typeof(Bundle.GroupedBundleTests))]
    public void It_rejects_a_damaged_grouped_record_like_the_csharp_verifier(string what, Action<byte[], int> patch, string[] words)
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(2, seed: 21);
        BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), new PackOptions { Scheme = Scheme.Tvq, Bits = 2, Group = new GroupSpec(16) }, dir["b"]);
        Assert.Equal("OK", Python("verify", dir["b"]).Output.Trim());
        Bundle.GroupedBundleTests.PatchPayload(dir["b"], "t1.tvqt", "blocks.0.attn.qkv.weight", patch);
        Assert.False(BundleVerifier.Verify(dir["b"]).Ok, what);
        var (code, output) = Python("verify", dir["b"]);
        Assert.True(code == 1, $"{what}: the independent reader accepted it: {output} ({words.Length} words expected from C#)");
        Assert.Contains("ERROR", output);
        Assert.Contains("blocks.0.attn.qkv.weight", output);
    }

    [Fact]
    public void It_rejects_a_damaged_file_like_the_csharp_verifier()
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(2, seed: 5);
        BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 }, dir["b"]);
        var rng = new Random(3);
        foreach (string file in new[] { "base.tvqb", "t1.tvqt", "manifest.json" })
        {
            string path = Path.Combine(dir["b"], file);
            byte[] original = File.ReadAllBytes(path);
            for (int k = 0; k < 5; k++)
            {
                var damaged = (byte[])original.Clone();
                damaged[rng.Next(damaged.Length)] ^= (byte)(1 << rng.Next(8));
                File.WriteAllBytes(path, damaged);
                var (code, output) = Python("verify", dir["b"]);
                Assert.True(code == 1, $"{file}: damage not detected: {output}");
                Assert.Contains("ERROR", output);
                Assert.False(BundleVerifier.Verify(dir["b"]).Ok);
            }
            File.WriteAllBytes(path, original);
        }
    }

    [Fact]
    public void It_verifies_a_version_2_bundle_with_a_head_blob_and_rejects_a_damaged_one()
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(2, seed: 23);
        var head = Enumerable.Range(0, 777).Select(i => (byte)(i * 13)).ToArray();
        BundlePacker.Pack(pre, [new PackTask("t0", tasks[0]), new PackTask("t1", tasks[1], Blobs: [new PackBlob(OwnBlobEntry.HeadOnnx, head, "head.onnx")])],
            new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 }, dir["b"]);
        var (code, output) = Python("verify", dir["b"]);
        Assert.True(code == 0, output);
        Assert.Contains("OK", output);

        var bytes = File.ReadAllBytes(dir["b/t1.tvqt"]);
        bytes[bytes.Length - 24 - 8 - 100] ^= 1; // inside the blob's payload
        File.WriteAllBytes(dir["b/t1.tvqt"], bytes);
        (code, output) = Python("verify", dir["b"]);
        Assert.NotEqual(0, code);
        Assert.Contains("head.onnx", output + "");
    }
}
