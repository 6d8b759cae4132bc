using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using EdgeTvq.Bundle;
using EdgeTvq.Format;
using EdgeTvq.Fuzz.Harness;
using EdgeTvq.Fuzz.Mutation;
using EdgeTvq.Fuzz.Seeds;

namespace EdgeTvq.Fuzz.Targets;

/// <summary>
/// manifest.json: the case is written over the manifest of one of the seed bundles (the one whose bundleId it
/// names) and the whole bundle is verified and decoded: ManifestIO.Load, BundleVerifier.Verify, TaskDecoder.Decode.
/// </summary>
public sealed class ManifestTarget : IFuzzTarget
{
    private List<string> _bundles = [];
    private List<string> _ids = [];
    private SeedModel? _pretrained;

    public string Name => "manifest";
    public IReadOnlySet<Type> Expected { get; } = new HashSet<Type> { typeof(BundleFormatException) };

    public IReadOnlyList<byte[]> Seeds(string scratch)
    {
        _bundles = SeedBundles.Build(scratch);
        _pretrained = SeedBundles.Pretrained();
        _ids = _bundles.Select(b => ManifestIO.Load(b).BundleId).ToList();
        return _bundles.Select(b => File.ReadAllBytes(Path.Combine(b, FormatConstants.ManifestFileName))).ToList();
    }

    public byte[] Mutate(byte[] input, Random rng)
    {
        byte[] output;
        if (rng.Next(10) < 7)
        {
            JsonNode? root = Json.TryParse(input);
            if (root is null) output = Bytes.Mutate(input, rng);
            else
            {
                root = Json.MutateTree(root, rng);
                if (rng.Next(10) != 0) ManifestChecksum.MakeLast(root);
                output = Json.Serialize(root);
            }
        }
        else output = Bytes.Mutate(input, rng);
        return rng.Next(20) == 0 ? output : ManifestChecksum.Fix(output);
    }

    public void Run(byte[] input, string scratch)
    {
        string text = Encoding.UTF8.GetString(input);
        int pick = Math.Max(0, _ids.FindIndex(id => text.Contains(id, StringComparison.Ordinal)));
        string dir = Path.Combine(scratch, "bundle");
        SeedBundles.CopyBundle(_bundles[pick], dir);
        File.WriteAllBytes(Path.Combine(dir, FormatConstants.ManifestFileName), input);
        BundleChecks.VerifyAndDecode(dir, _pretrained!);
    }
}

/// <summary>What the manifest and bundle targets do with a bundle folder: everything a reader does.</summary>
public static class BundleChecks
{
    public static void VerifyAndDecode(string dir, ITensorSource pretrained)
    {
        var m = ManifestIO.Load(dir);
        var result = BundleVerifier.Verify(dir);
        if (!result.Ok) throw new BundleFormatException(dir, "verify: " + result.Problems[0]);
        // FQ stores fine-tuned weights: its task vectors need the pretrained model (a verified bundle names this one).
        ITensorSource? pre = m.Scheme == "fq" ? pretrained : null;
        foreach (var task in m.Tasks)
            TaskDecoder.Decode(dir, m, task, pre, DecodeTarget.TaskVector, _ => { });
    }
}
