using System.Buffers.Binary;
using System.Text.Json;
using EdgeTvq.Bundle;
using EdgeTvq.Format;
using EdgeTvq.Merging;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Bundle;

/// <summary>Format version 2: a task's own blobs (its ONNX head graph), stored after its own tensors.</summary>
public class OwnBlobTests
{
    private static readonly byte[] Head = Enumerable.Range(0, 1000).Select(i => (byte)(i * 7 + 3)).ToArray();

    private static ushort FileVersion(string path) => BinaryPrimitives.ReadUInt16LittleEndian(File.ReadAllBytes(path).AsSpan(FileHeader.OffVersion));

    private static BundleManifest PackWithHead(TempDir dir, string scheme = "tvq")
    {
        var (pre, tasks) = MemorySource.SmallModel(3, seed: 5);
        var o = scheme == "rtvq" ? new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 } : new PackOptions { Scheme = PackOptions.ParseScheme(scheme), Bits = 4 };
        var packTasks = tasks.Select((s, i) => new PackTask($"t{i}", s, Blobs: i == 1 ? [new PackBlob(OwnBlobEntry.HeadOnnx, Head, "head.onnx")] : null)).ToList();
        return BundlePacker.Pack(pre, packTasks, o, dir["b"]);
    }

    [Theory]
    [InlineData("tvq")]
    [InlineData("rtvq")]
    [InlineData("fq")]
    public void A_head_blob_round_trips_and_only_its_task_file_is_version_2(string scheme)
    {
        using var dir = new TempDir();
        PackWithHead(dir, scheme);
        var m = ManifestIO.Load(dir["b"]);
        Assert.Equal(2, m.FormatVersion);
        Assert.Null(m.Tasks[0].OwnBlobs);
        Assert.Equal(Head.Length, Assert.Single(m.Tasks[1].OwnBlobs!).Bytes);
        Assert.Equal(1, FileVersion(dir["b/t0.tvqt"]));
        Assert.Equal(2, FileVersion(dir["b/t1.tvqt"]));
        if (scheme == "rtvq") Assert.Equal(1, FileVersion(dir["b/base.tvqb"]));
        var verify = BundleVerifier.Verify(dir["b"]);
        Assert.True(verify.Ok, string.Join("\n", verify.Problems));

        var (pre, _) = MemorySource.SmallModel(3, seed: 5);
        using var cache = new MergeCache(pre, m);
        using var merged = BundleMerger.Merge(dir["b"], m, cache, MergeRecipe.Individual("t1"));
        Assert.Equal(Head, merged.Blob("t1", OwnBlobEntry.HeadOnnx));
        using var all = BundleMerger.Merge(dir["b"], m, cache, MergeRecipe.TaskArithmetic(["t0", "t1", "t2"]));
        Assert.Equal(Head, all.Blob("t1", OwnBlobEntry.HeadOnnx));
        Assert.Null(all.Blob("t0", OwnBlobEntry.HeadOnnx));
        using var ties = BundleMerger.Merge(dir["b"], m, cache, MergeRecipe.Of(MergeMethod.Ties, ["t0", "t1", "t2"]));
        Assert.Equal(Head, ties.Blob("t1", OwnBlobEntry.HeadOnnx));
    }

    [Fact]
    public void A_bundle_without_blobs_is_still_written_as_version_1()
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(2, seed: 6);
        BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), new PackOptions { Bits = 4 }, dir["b"]);
        Assert.Equal(1, ManifestIO.Load(dir["b"]).FormatVersion);
        Assert.DoesNotContain("ownBlobs", File.ReadAllText(dir["b/manifest.json"]));
        Assert.All(Directory.GetFiles(dir["b"], "*.tvqt"), f => Assert.Equal(1, FileVersion(f)));
    }

    [Fact]
    public void Adding_a_task_with_a_head_to_a_version_1_bundle_touches_only_the_manifest_and_the_new_file()
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(3, seed: 7);
        BundlePacker.Pack(pre, tasks.Take(2).Select((s, i) => new PackTask($"t{i}", s)).ToList(), new PackOptions { Bits = 4 }, dir["b"]);
        var before = Directory.GetFiles(dir["b"], "*.tvqt").ToDictionary(f => f, File.ReadAllBytes);
        BundlePacker.AddTask(dir["b"], pre, new PackTask("late", tasks[2], Blobs: [new PackBlob(OwnBlobEntry.HeadOnnx, Head, "h.onnx")]));
        foreach (var (f, bytes) in before) Assert.Equal(bytes, File.ReadAllBytes(f));
        Assert.Equal(2, ManifestIO.Load(dir["b"]).FormatVersion);
        Assert.Equal(2, FileVersion(dir["b/late.tvqt"]));
        var verify = BundleVerifier.Verify(dir["b"]);
        Assert.True(verify.Ok, string.Join("\n", verify.Problems));
    }

    [Fact]
    public void A_damaged_blob_is_refused_naming_the_file_and_the_record_index()
    {
        using var dir = new TempDir();
        PackWithHead(dir);
        string file = dir["b/t1.tvqt"];
        var bytes = File.ReadAllBytes(file);
        // The blob is the last record: its payload ends 8 bytes (record checksum) before the 24-byte trailer.
        bytes[bytes.Length - 24 - 8 - 10] ^= 0x40;
        File.WriteAllBytes(file, bytes);
        var verify = BundleVerifier.Verify(dir["b"]);
        Assert.False(verify.Ok);
        Assert.Contains(verify.Problems, p => p.Contains("t1.tvqt") && p.Contains("record 12") && p.Contains("checksum"));
    }

    [Fact]
    public void A_truncated_blob_file_is_refused()
    {
        using var dir = new TempDir();
        PackWithHead(dir);
        string file = dir["b/t1.tvqt"];
        var bytes = File.ReadAllBytes(file);
        File.WriteAllBytes(file, bytes[..(bytes.Length - 24 - 500)]);
        var verify = BundleVerifier.Verify(dir["b"]);
        Assert.False(verify.Ok);
        Assert.Contains(verify.Problems, p => p.Contains("t1.tvqt"));
    }

    [Fact]
    public void A_manifest_that_lists_blobs_under_version_1_or_repeats_a_blob_is_refused()
    {
        using var dir = new TempDir();
        var m = PackWithHead(dir);
        m.FormatVersion = 1;
        var e = Assert.Throws<BundleFormatException>(() => ManifestIO.Validate(m, "manifest.json"));
        Assert.Contains("version 2", e.Message);
        m.FormatVersion = 2;
        m.Tasks[1].OwnBlobs!.Add(new OwnBlobEntry { Name = OwnBlobEntry.HeadOnnx, Bytes = 3 });
        e = Assert.Throws<BundleFormatException>(() => ManifestIO.Validate(m, "manifest.json"));
        Assert.Contains("repeat", e.Message);
        m.FormatVersion = FormatConstants.LatestVersion + 1;
        e = Assert.Throws<BundleFormatException>(() => ManifestIO.Validate(m, "manifest.json"));
        Assert.Contains("not supported", e.Message);
    }

    [Fact]
    public void A_task_file_whose_header_version_differs_from_what_the_manifest_implies_is_refused()
    {
        using var dir = new TempDir();
        PackWithHead(dir);
        // Rewrite t1's header as version 1 (checksum fixed), so only the version rule can catch it.
        string file = dir["b/t1.tvqt"];
        var bytes = File.ReadAllBytes(file);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(FileHeader.OffVersion), 1);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(FileHeader.OffChecksum), System.IO.Hashing.XxHash64.HashToUInt64(bytes.AsSpan(0, FileHeader.OffChecksum)));
        File.WriteAllBytes(file, bytes);
        var verify = BundleVerifier.Verify(dir["b"]);
        Assert.Contains(verify.Problems, p => p.Contains("t1.tvqt") && p.Contains("version"));
    }

    [Theory]
    [InlineData("""{"kind": "panorama"}""", "kind")]
    [InlineData("""{"preprocessing": {"channels": "cmyk"}}""", "channels")]
    [InlineData("""{"preprocessing": {"channels": "rgb", "mean": [0.5, 0.5]}}""", "mean")]
    [InlineData("""{"preprocessing": {"std": 0}}""", "std")]
    [InlineData("""{"preprocessing": {"crop": [224, 0]}}""", "crop")]
    [InlineData("""{"preprocessing": {"invert": "maybe"}}""", "invert")]
    public void Task_metadata_that_breaks_the_model_contract_is_refused_when_packed(string json, string key)
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(1, seed: 8);
        var meta = JsonDocument.Parse(json).RootElement.Clone();
        var e = Assert.Throws<ArgumentException>(() => BundlePacker.Pack(pre, [new PackTask("t0", tasks[0], meta, "meta.json")], new PackOptions { Bits = 4 }, dir["b"]));
        Assert.Contains(key, e.Message);
        Assert.Contains("meta.json", e.Message);
        Assert.False(Directory.Exists(dir["b"]));
    }

    [Fact]
    public void The_kind_is_stored_in_the_metadata_record_and_absent_means_classification()
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(2, seed: 9);
        var seg = JsonDocument.Parse("""{"kind": "segmentation", "preprocessing": {"channels": "rgb", "resize": 64, "crop": [64, 64], "mean": [0.4, 0.5, 0.6], "std": [0.2, 0.2, 0.2]}}""").RootElement.Clone();
        BundlePacker.Pack(pre, [new PackTask("seg", tasks[0], seg), new PackTask("plain", tasks[1])], new PackOptions { Bits = 4 }, dir["b"]);
        var m = ManifestIO.Load(dir["b"]);
        using var stream = BundleStream.Open(dir["b"], m, m.Tasks, readBase: false);
        Assert.Equal(TaskKind.Segmentation, TaskKinds.Of(stream.Metadata[0]!, "seg"));
        Assert.Equal(TaskKind.Classification, TaskKinds.Of(stream.Metadata[1]!, "plain"));
        var spec = PreprocessingSpec.Parse(stream.Metadata[0]!.Preprocessing);
        Assert.Equal((ChannelOrder.Rgb, 64, (64, 64)), (spec.Channels, spec.ResizeShorter!.Value, spec.Crop!.Value));
        Assert.Equal(PreprocessingSpec.Legacy, PreprocessingSpec.Parse(stream.Metadata[1]!.Preprocessing));
    }

    [Theory]
    [InlineData("labels")]
    [InlineData("kind")]
    [InlineData("channels")]
    public void A_metadata_string_that_is_not_valid_utf8_is_refused_naming_the_key(string key)
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(1, seed: 10);
        string template = key switch
        {
            "labels" => """{"labels": ["a", "@@"]}""",
            "kind" => """{"kind": "@@"}""",
            _ => """{"preprocessing": {"channels": "@@"}}""",
        };
        var bytes = System.Text.Encoding.UTF8.GetBytes(template).ToList();
        int at = bytes.IndexOf((byte)'@');
        bytes[at] = 0xC3; bytes[at + 1] = 0x28; // an invalid two-byte sequence
        var meta = JsonDocument.Parse(bytes.ToArray()).RootElement.Clone();
        var e = Assert.Throws<ArgumentException>(() => BundlePacker.Pack(pre, [new PackTask("t0", tasks[0], meta, "meta.json")], new PackOptions { Bits = 4 }, dir["b"]));
        Assert.Contains(key, e.Message);
    }
}
