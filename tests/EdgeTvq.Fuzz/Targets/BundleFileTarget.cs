using System.Security.Cryptography;
using EdgeTvq.Bundle;
using EdgeTvq.Format;
using EdgeTvq.Fuzz.Harness;
using EdgeTvq.Fuzz.Mutation;
using EdgeTvq.Fuzz.Seeds;

namespace EdgeTvq.Fuzz.Targets;

/// <summary>
/// .tvqb/.tvqt files: the case replaces the base file (header kind 1) or task t0's file of the seed bundle whose id
/// is in its header; the manifest entry's bytes and sha256 are updated to match (so the mutation reaches the
/// decoder, not just the SHA-256 check), then the raw reader, BundleVerifier and TaskDecoder run.
/// </summary>
public sealed class BundleFileTarget : IFuzzTarget
{
    private List<string> _bundles = [];
    private List<byte[]> _ids = [];
    private SeedModel? _pretrained;

    public string Name => "bundle";
    public IReadOnlySet<Type> Expected { get; } = new HashSet<Type> { typeof(BundleFormatException) };

    public IReadOnlyList<byte[]> Seeds(string scratch)
    {
        _bundles = SeedBundles.Build(scratch);
        _pretrained = SeedBundles.Pretrained();
        _ids = _bundles.Select(b => FileHeader.BundleIdBytes(Guid.ParseExact(ManifestIO.Load(b).BundleId, "N"))).ToList();
        var seeds = new List<byte[]>();
        foreach (var b in _bundles)
        {
            seeds.Add(File.ReadAllBytes(Path.Combine(b, "t0" + FormatConstants.TaskFileExtension)));
            if (File.Exists(Path.Combine(b, FormatConstants.BaseFileName))) seeds.Add(File.ReadAllBytes(Path.Combine(b, FormatConstants.BaseFileName)));
        }
        return seeds;
    }

    public byte[] Mutate(byte[] input, Random rng) => BundleFile.Mutate(input, rng);

    public void Run(byte[] input, string scratch)
    {
        int pick = input.Length >= 32 ? Math.Max(0, _ids.FindIndex(id => input.AsSpan(16, 16).SequenceEqual(id))) : 0;
        string dir = Path.Combine(scratch, "bundle");
        SeedBundles.CopyBundle(_bundles[pick], dir);
        var m = ManifestIO.Load(dir);
        FileEntry entry = input.Length > FileHeader.OffKind && input[FileHeader.OffKind] == (byte)FileKind.Base && m.Base is not null ? m.Base : m.Tasks[0];
        string path = Path.Combine(dir, entry.File);
        File.WriteAllBytes(path, input);
        entry.Bytes = input.Length;
        entry.Sha256 = Convert.ToHexStringLower(SHA256.HashData(input));
        ManifestIO.Save(m, dir);

        // The raw reader on its own: every record decoded.
        var mode = m.Quantizer == "reference" ? Quantization.QuantMode.Reference : Quantization.QuantMode.Default;
        BundleFileReader.Read(path, null, (in BundleRecord r) =>
        {
            // (a constant record may stand for 2^31 − 1 elements; the manifest's shape bounds those, checked below)
            if (r.Kind != RecordKind.Metadata && r.ElementCount <= 1 << 20) r.DecodeTo(new float[r.ElementCount], mode);
        });
        BundleChecks.VerifyAndDecode(dir, _pretrained!);
    }
}
