using System.Buffers.Binary;
using System.IO.Hashing;
using System.Security.Cryptography;
using EdgeTvq.Bundle;
using EdgeTvq.Format;
using EdgeTvq.Merging;
using EdgeTvq.Quantization;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Bundle;

/// <summary>
/// Bundles with group-wise scales (format version 4, record kind 7): the version stamp, the manifest's per-tensor group
/// sizes, and damaged grouped records refused by every reader with the file, the tensor and the problem named.
/// </summary>
public class GroupedBundleTests : IDisposable
{
    private static readonly string[] TaskNames = ["t0", "t1", "t2"];
    private readonly TempDir _dir = new();
    private readonly MemorySource _pre;
    private readonly List<MemorySource> _sources;

    public GroupedBundleTests() => (_pre, _sources) = MemorySource.SmallModel(TaskNames.Length, seed: 21);

    public void Dispose() => _dir.Dispose();

    private string Pack(string name, PackOptions o)
    {
        BundlePacker.Pack(_pre, _sources.Select((s, i) => new PackTask(TaskNames[i], s)).ToList(), o, _dir[name]);
        return _dir[name];
    }

    private static ushort HeaderVersion(string path)
    {
        FileHeader header = default;
        BundleFileReader.Read(path, h => header = h, (in BundleRecord _) => { });
        return header.Version;
    }

    [Fact]
    public void Grouping_stamps_version_4_in_the_manifest_and_every_file_and_plain_bundles_stay_version_1()
    {
        string grouped = Pack("g", new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2, Group = GroupSpec.Row });
        var m = ManifestIO.Load(grouped);
        Assert.Equal(4, m.FormatVersion);
        Assert.All(Directory.GetFiles(grouped, "*.tv*"), f => Assert.Equal(4, HeaderVersion(f)));
        var qkv = m.Tensors.Single(e => e.Name == "blocks.0.attn.qkv.weight");
        Assert.Equal((8, 8, null), (qkv.BaseGroup, qkv.OffsetGroup, qkv.Group));
        Assert.All(m.Tensors.Where(e => e.Storage != "quantized"), e => Assert.False(e.HasGroups));
        Assert.True(BundleVerifier.Verify(grouped).Ok);
        var report = BundleInspector.Inspect(grouped);
        Assert.Equal(("row", "affine"), (report.Grouping, report.GroupMode));
        Assert.Equal("row", report.Tensors.Single(t => t.Name == "patch_embed.proj.weight").Group);

        string plain = Pack("p", new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 });
        Assert.Equal(1, ManifestIO.Load(plain).FormatVersion);
        string text = File.ReadAllText(Path.Combine(plain, "manifest.json"));
        Assert.DoesNotContain("\"group", text);
        Assert.DoesNotContain("Group\"", text);
        Assert.All(Directory.GetFiles(plain, "*.tv*"), f => Assert.Equal(1, HeaderVersion(f)));
        Assert.Null(BundleInspector.Inspect(plain).Grouping);
    }

    [Fact]
    public void Bitdelta_writes_group_mode_sign_and_every_tensor_within_its_alpha()
    {
        string b = Pack("bd", new PackOptions { Scheme = Scheme.Tvq, Bits = 1, Signs = true, Group = GroupSpec.Row });
        var m = ManifestIO.Load(b);
        Assert.Equal("sign", m.GroupMode);
        Assert.Equal("sign", BundleInspector.Inspect(b).GroupMode);
        var decoded = new Dictionary<string, float[]>();
        TaskDecoder.Decode(b, m, m.Tasks[0], null, DecodeTarget.TaskVector, d => decoded[d.Name] = d.Values);
        foreach (var e in m.Tensors.Where(e => e.Group is not null))
        {
            var tau = _sources[0].Data[e.Name].Values.Zip(_pre.Data[e.Name].Values, (f, p) => f - p).ToArray();
            int g = e.Group!.Value;
            for (int i = 0; i < tau.Length; i++)
            {
                int row = i / g;
                float alpha = (float)(tau.Skip(row * g).Take(g).Sum(v => (double)Math.Abs(v)) / g);
                Assert.Equal(tau[i] >= 0 ? alpha : -alpha, decoded[e.Name][i]);
            }
        }
    }

    [Fact]
    public void Add_task_on_a_grouped_rtvq_bundle_groups_the_new_offsets_like_the_table()
    {
        var (pre, sources) = MemorySource.SmallModel(3, seed: 21);
        BundlePacker.Pack(pre, [new PackTask("t0", sources[0]), new PackTask("t1", sources[1])],
            new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2, Group = new GroupSpec(24) }, _dir["add"]);
        BundlePacker.AddTask(_dir["add"], pre, new PackTask("late", sources[2]));
        var m = ManifestIO.Load(_dir["add"]);
        Assert.True(BundleVerifier.Verify(_dir["add"]).Ok);
        Assert.Equal(4, HeaderVersion(Path.Combine(_dir["add"], "late.tvqt")));
        var decoded = new Dictionary<string, float[]>();
        TaskDecoder.Decode(_dir["add"], m, TaskDecoder.FindTask(m, "late"), null, DecodeTarget.TaskVector, d => decoded[d.Name] = d.Values);
        // τ̂ = Q(θ_t − θ_ec) + dq(base), θ_ec = dq(base) + θ_pre, both Q per 24 elements.
        const string name = "blocks.0.attn.qkv.weight";
        var baseHat = new float[192];
        BundleFileReader.Read(Path.Combine(_dir["add"], "base.tvqb"), null, (in BundleRecord r) => { if (r.Name == name) r.DecodeTo(baseHat, QuantMode.Default); });
        var offset = new float[192];
        for (int i = 0; i < 192; i++) offset[i] = sources[2].Data[name].Values[i] - (baseHat[i] + pre.Data[name].Values[i]);
        var codes = new byte[192];
        var p = GroupQuantizer.Quantize(offset, 2, 24, GroupMode.Affine, codes);
        var hat = new float[192];
        GroupQuantizer.Dequantize(codes, p, hat);
        for (int i = 0; i < 192; i++) Assert.Equal(hat[i] + baseHat[i], decoded[name][i]);
    }

    [Fact]
    public void A_budget_with_groups_counts_the_group_scales_exactly()
    {
        string uniform = Pack("u", new PackOptions { Scheme = Scheme.Tvq, Bits = 3, Group = new GroupSpec(16) });
        long bytes = Directory.GetFiles(uniform, "*.tvqt").Sum(f => new FileInfo(f).Length)
                     - BundleInspector.Inspect(uniform).Tasks.Sum(t => t.OwnTensorBytes);
        // The packer refuses to finish when the files differ from the bytes the allocation predicted.
        string allocated = Pack("a", new PackOptions { Scheme = Scheme.Tvq, BudgetBytes = bytes, Group = new GroupSpec(16) });
        var m = ManifestIO.Load(allocated);
        Assert.Equal(4, m.FormatVersion);
        Assert.All(m.Tensors.Where(e => e.Storage == "quantized"), e => Assert.Equal(16, e.Group));
        Assert.True(BundleVerifier.Verify(allocated).Ok);
    }

    [Fact]
    public void Reference_quantizer_and_bad_bitdelta_settings_are_refused_before_anything_is_written()
    {
        var e1 = Assert.Throws<ArgumentException>(() => Pack("r", new PackOptions { Scheme = Scheme.Tvq, Bits = 2, Mode = QuantMode.Reference, Group = GroupSpec.Row }));
        Assert.Contains("default quantizer", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => Pack("s", new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 2, OffsetBits = 1, Signs = true, Group = GroupSpec.Row }));
        Assert.Contains("bitdelta", e2.Message);
        Assert.Throws<ArgumentException>(() => GroupSpec.Parse("0"));
        Assert.Equal(GroupSpec.Row, GroupSpec.Parse("row"));
        Assert.Equal(128, GroupSpec.Parse("128").Size);
    }

    [Fact]
    public void A_manifest_that_claims_version_3_with_group_sizes_is_refused()
    {
        string b = Pack("v", new PackOptions { Scheme = Scheme.Tvq, Bits = 2, Group = new GroupSpec(32) });
        string path = Path.Combine(b, "manifest.json");
        var m = ManifestIO.Load(b);
        m.FormatVersion = 3;
        var e = Assert.Throws<BundleFormatException>(() => ManifestIO.Validate(m, path));
        Assert.Contains("cannot hold grouped records", e.Message);
        m.FormatVersion = 4;
        m.Tensors.First(t => t.Storage == "full").Group = 8;
        e = Assert.Throws<BundleFormatException>(() => ManifestIO.Validate(m, path));
        Assert.Contains("only non-empty quantized tensors are grouped", e.Message);
    }

    /// <summary>
    /// Changes bytes of one record's payload in place and repairs the record checksum, the trailer and the manifest
    /// entry, so that only the value rules of section 4.2 (or the manifest's group sizes) can refuse it.
    /// </summary>
    internal static void PatchPayload(string bundle, string file, string tensor, Action<byte[], int> patch)
    {
        string path = Path.Combine(bundle, file);
        long offset = -1, length = 0, payloadAt = 0;
        BundleFileReader.Read(path, null, (in BundleRecord r) =>
        {
            if (r.Name != tensor) return;
            (offset, length) = (r.Offset, r.TotalLength);
            payloadAt = r.Offset + FormatConstants.RecordFixedSize + System.Text.Encoding.UTF8.GetByteCount(r.Name) + 8L * r.Shape.Length;
        });
        Assert.True(offset >= 0, $"{file} has no record '{tensor}'");
        byte[] bytes = File.ReadAllBytes(path);
        patch(bytes, (int)payloadAt);
        int sumAt = (int)(offset + length - FormatConstants.RecordChecksumSize);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(sumAt), XxHash64.HashToUInt64(bytes.AsSpan((int)offset, sumAt - (int)offset)));
        int trailer = bytes.Length - FormatConstants.TrailerSize;
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(trailer + 16), XxHash64.HashToUInt64(bytes.AsSpan(0, trailer)));
        File.WriteAllBytes(path, bytes);
        var m = ManifestIO.Load(bundle);
        var entry = m.Tasks.Single(t => t.File == file);
        entry.Sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes));
        ManifestIO.Save(m, bundle);
    }

    public static IEnumerable<object[]> Damage() =>
    [
        ["mode 2", (Action<byte[], int>)((b, p) => b[p] = 2), new[] { "group mode 2 is unknown" }],
        ["reserved", (Action<byte[], int>)((b, p) => b[p + 2] = 1), new[] { "reserved bytes" }],
        ["group size", (Action<byte[], int>)((b, p) => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(p + 4), 7)), new[] { "payload is", "Grouped record" }],
        ["group size 0", (Action<byte[], int>)((b, p) => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(p + 4), 0)), new[] { "group size 0" }],
        ["negative scale", (Action<byte[], int>)((b, p) => BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(p + 8 + 4), -0.5f)), new[] { "scale -0.5 of group 1", "finite and positive" }],
        ["NaN scale", (Action<byte[], int>)((b, p) => BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(p + 8), float.NaN)), new[] { "of group 0", "finite and positive" }],
        ["zero point", (Action<byte[], int>)((b, p) => BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(p + 8 + 4 * 12 + 4 * 2), 1.5f)), new[] { "zero point 1.5 of group 2", "finite integer" }],
    ];

    [Theory]
    [MemberData(nameof(Damage))]
    public void A_damaged_grouped_record_is_refused_by_every_reader_naming_file_tensor_and_problem(string what, Action<byte[], int> patch, string[] words)
    {
        // blocks.0.attn.qkv.weight is [24, 8]: 12 groups of 16, 2-bit codes, 48 bytes of codes.
        string b = Pack("d", new PackOptions { Scheme = Scheme.Tvq, Bits = 2, Group = new GroupSpec(16) });
        const string tensor = "blocks.0.attn.qkv.weight";
        PatchPayload(b, "t1.tvqt", tensor, patch);
        var m = ManifestIO.Load(b);
        var problem = Assert.Single(BundleVerifier.Verify(b).Problems);
        Assert.Contains("t1.tvqt", problem);
        Assert.Contains($"tensor '{tensor}'", problem);
        foreach (var w in words) Assert.Contains(w, problem);
        var decode = Assert.Throws<BundleFormatException>(() => TaskDecoder.Decode(b, m, m.Tasks[1], null, DecodeTarget.TaskVector, _ => { }));
        Assert.Equal(problem, decode.Message);
        var fused = Assert.Throws<BundleFormatException>(() => BundleMerger.Merge(b, m, _pre, MergeRecipe.TaskArithmetic(TaskNames)));
        Assert.Equal(problem, fused.Message);
        var general = Assert.Throws<BundleFormatException>(() => BundleMerger.Merge(b, m, _pre, MergeRecipe.Of(MergeMethod.Ties, TaskNames)));
        Assert.Equal(problem, general.Message);
        _ = what;
    }

    [Fact]
    public void Nonzero_padding_after_the_last_grouped_code_is_refused()
    {
        // One [3, 3] tensor at 3 bits, one scale per row: 27 bits of codes, so the last of 4 code bytes has 5 padding bits.
        var pre = new MemorySource("pre.pt", new() { ["w.weight"] = (new long[] { 3, 3 }, new float[9]) });
        var ft = new MemorySource("t.pt", new() { ["w.weight"] = (new long[] { 3, 3 }, [0.1f, -0.2f, 0.3f, 0.05f, 0f, -0.4f, 0.2f, 0.7f, -0.1f]) });
        BundlePacker.Pack(pre, [new PackTask("t0", ft)], new PackOptions { Scheme = Scheme.Tvq, Bits = 3, Group = GroupSpec.Row }, _dir["nine"]);
        // Payload: mode, reserved, G (8 bytes), 3 scales and 3 zero points (24 bytes), then the 4 code bytes.
        PatchPayload(_dir["nine"], "t0.tvqt", "w.weight", (bytes, p) => bytes[p + 8 + 24 + 3] |= 0x80);
        var problem = Assert.Single(BundleVerifier.Verify(_dir["nine"]).Problems);
        Assert.Contains("t0.tvqt", problem);
        Assert.Contains("tensor 'w.weight'", problem);
        Assert.Contains("padding bits", problem);
    }

    [Fact]
    public void A_grouped_record_whose_group_size_differs_from_the_manifest_is_refused()
    {
        string b = Pack("gs", new PackOptions { Scheme = Scheme.Tvq, Bits = 2, Group = new GroupSpec(16) });
        var m = ManifestIO.Load(b);
        m.Tensors.Single(e => e.Name == "blocks.0.attn.qkv.weight").Group = 32;
        ManifestIO.Save(m, b);
        var problems = BundleVerifier.Verify(b).Problems;
        Assert.Equal(TaskNames.Length, problems.Count);   // every task file holds the record
        var problem = problems[0];
        Assert.Contains("groups of 16 elements, the manifest says 32", problem);
        Assert.Contains("tensor 'blocks.0.attn.qkv.weight'", problem);
    }
}
