using System.IO.Hashing;
using System.Text;
using System.Text.Json.Nodes;
using EdgeTvq.Bundle;
using EdgeTvq.Format;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Hardening;

/// <summary>
/// JSON null where manifest.json requires a value, with the checksum recomputed so the null reaches validation:
/// every command that loads the manifest refuses it with a clear error naming the field (it used to end in a
/// NullReferenceException inside ManifestIO.Validate).
/// </summary>
public class ManifestNullTests
{
    /// <summary>Rewrites the manifest of <paramref name="bundle"/> through <paramref name="edit"/> and recomputes its checksum.</summary>
    public static void EditManifest(string bundle, Action<JsonObject> edit)
    {
        string path = Path.Combine(bundle, FormatConstants.ManifestFileName);
        var root = JsonNode.Parse(File.ReadAllBytes(path))!.AsObject();
        edit(root);
        root.Remove("checksum");
        root["checksum"] = ManifestIO.ChecksumPlaceholder;
        byte[] bytes = Encoding.UTF8.GetBytes(root.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        string text = Encoding.UTF8.GetString(bytes);
        string hex = XxHash64.HashToUInt64(bytes).ToString("x16");
        int at = text.LastIndexOf(ManifestIO.ChecksumPlaceholder, StringComparison.Ordinal);
        File.WriteAllText(path, text[..at] + hex + text[(at + 16)..]);
    }

    public static TheoryData<string, string> Nulls => new()
    {
        { "tensors[…, null]", "tensors[" },
        { "tasks [null]", "tasks[0]" },
        { "tasks null", "tasks" },
        { "pretrained null", "pretrained" },
        { "shape null", "tensors[0].shape" },
        { "ownTensors [null]", "tasks[0].ownTensors[0]" },
        { "bundleId null", "bundleId" },
        { "task name null", "tasks[0].name" },
        { "recipe null", "recipes.r" },
    };

    private static void Apply(string what, JsonObject m)
    {
        switch (what)
        {
            case "tensors[…, null]": m["tensors"]!.AsArray().Add(null); break;
            case "tasks [null]": m["tasks"] = new JsonArray((JsonNode?)null); break;
            case "tasks null": m["tasks"] = null; break;
            case "pretrained null": m["pretrained"] = null; break;
            case "shape null": m["tensors"]![0]!["shape"] = null; break;
            case "ownTensors [null]": m["tasks"]![0]!["ownTensors"] = new JsonArray((JsonNode?)null); break;
            case "bundleId null": m["bundleId"] = null; break;
            case "task name null": m["tasks"]![0]!["name"] = null; break;
            case "recipe null": m["recipes"] = new JsonObject { ["r"] = null }; break;
            default: throw new ArgumentException(what);
        }
    }

    [Theory]
    [MemberData(nameof(Nulls))]
    public void A_null_in_the_manifest_is_a_clear_error_naming_the_field(string what, string field)
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(2, seed: 5);
        BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), new PackOptions { Bits = 4 }, dir["b"]);
        EditManifest(dir["b"], m => Apply(what, m));

        var e = Assert.Throws<BundleFormatException>(() => ManifestIO.Load(dir["b"]));
        Assert.Contains(field, e.Message);
        Assert.Contains("manifest.json", e.Message);
        Assert.Contains("restore it", e.Message);

        // verify (and so `edgetvq info --verify`) reports it as a problem instead of crashing.
        var result = BundleVerifier.Verify(dir["b"]);
        Assert.False(result.Ok);
        Assert.Contains(result.Problems, p => p.Contains(field, StringComparison.Ordinal));
    }

    [Fact]
    public void The_checksum_helper_produces_a_manifest_that_loads()
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(1, seed: 5);
        BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), new PackOptions { Bits = 4 }, dir["b"]);
        EditManifest(dir["b"], _ => { });
        Assert.Equal("t0", ManifestIO.Load(dir["b"]).Tasks.Single().Name);
    }
}
