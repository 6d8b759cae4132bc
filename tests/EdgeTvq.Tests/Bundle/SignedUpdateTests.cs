using System.Text;
using EdgeTvq.Bundle;
using EdgeTvq.Format;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Bundle;

/// <summary>Signed manifests and the device's field updates: what strict mode refuses, and add / remove / rollback.</summary>
public class SignedUpdateTests
{
    /// <summary>A signer's key pair on disk and a trust folder holding its public half.</summary>
    private sealed class Signer
    {
        public required string PrivateKey { get; init; }
        public required string TrustDir { get; init; }
        public required string KeyId { get; init; }

        public static Signer Create(TempDir dir, string name)
        {
            var (priv, pub, id) = BundleSigning.CreateKey();
            File.WriteAllText(dir[$"{name}.pem"], priv);
            Directory.CreateDirectory(dir[$"{name}-trust"]);
            File.WriteAllText(dir[$"{name}-trust/{name}.pub.pem"], pub);
            return new Signer { PrivateKey = dir[$"{name}.pem"], TrustDir = dir[$"{name}-trust"], KeyId = id };
        }

        public void SignBundle(string bundle)
        {
            using var key = BundleSigning.LoadPrivateKey(PrivateKey);
            BundleSigning.SignBundle(bundle, key);
        }
    }

    private static (MemorySource Pre, List<MemorySource> Tasks) Model() => MemorySource.SmallModel(3, seed: 12);

    /// <summary>The signer's bundle with tasks t0, t1 (signed), and a device copy of it.</summary>
    private static (string Workstation, string Device, MemorySource Pre, List<MemorySource> Tasks) Setup(TempDir dir, Signer signer)
    {
        var (pre, tasks) = Model();
        BundlePacker.Pack(pre, [new PackTask("t0", tasks[0]), new PackTask("t1", tasks[1])], new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 }, dir["ws"]);
        signer.SignBundle(dir["ws"]);
        CopyFolder(dir["ws"], dir["device"]);
        return (dir["ws"], dir["device"], pre, tasks);
    }

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.EnumerateFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)), overwrite: true);
    }

    [Fact]
    public void Strict_trust_accepts_the_signed_bundle_and_refuses_unsigned_tampered_and_foreign_ones_saying_which()
    {
        using var dir = new TempDir();
        var signer = Signer.Create(dir, "ours");
        var stranger = Signer.Create(dir, "theirs");
        var (ws, device, _, _) = Setup(dir, signer);
        using var trust = BundleTrust.Load(signer.TrustDir);
        trust.LoadManifest(device, out string? by);
        Assert.Equal(signer.KeyId, by);

        // Unsigned.
        File.Delete(Path.Combine(device, SignatureFile.FileName));
        var e = Assert.Throws<BundleSignatureException>(() => trust.LoadManifest(device));
        Assert.Contains("unsigned", e.Message);
        Assert.Contains("--allow-unsigned", e.Message);
        using (var dev = BundleTrust.Load(signer.TrustDir, allowUnsigned: true)) dev.LoadManifest(device); // development mode

        // Foreign key.
        stranger.SignBundle(device);
        e = Assert.Throws<BundleSignatureException>(() => trust.LoadManifest(device));
        Assert.Contains($"key {stranger.KeyId}", e.Message);
        Assert.Contains("does not trust", e.Message);

        // Changed after signing: a recipe added to the manifest (a valid manifest, checksum and all).
        signer.SignBundle(device);
        var m = ManifestIO.Load(device);
        m.Recipes = new() { ["x"] = new EdgeTvq.Merging.RecipeDocument { Method = "ta" } };
        ManifestIO.Save(m, device);
        e = Assert.Throws<BundleSignatureException>(() => trust.LoadManifest(device));
        Assert.Contains("changed after it was signed", e.Message);
        using (var dev = BundleTrust.Load(signer.TrustDir, allowUnsigned: true))
            Assert.Null(dev.Check(File.ReadAllBytes(Path.Combine(device, FormatConstants.ManifestFileName)), "m", BundleSigning.Read(Path.Combine(device, SignatureFile.FileName)), "s")); // development mode checks nothing

        // Tampered signature bytes.
        CopyFolder(ws, device);
        var sig = BundleSigning.Read(Path.Combine(device, SignatureFile.FileName))!;
        var raw = Convert.FromBase64String(sig.Signatures[0].Signature);
        raw[5] ^= 1;
        File.WriteAllBytes(Path.Combine(device, SignatureFile.FileName), BundleSigning.Serialize(sig with { Signatures = [sig.Signatures[0] with { Signature = Convert.ToBase64String(raw) }] }));
        e = Assert.Throws<BundleSignatureException>(() => trust.LoadManifest(device));
        Assert.Contains("tampered", e.Message);

        // No key installed at all.
        Directory.CreateDirectory(dir["empty"]);
        var none = Assert.Throws<InvalidDataException>(() => BundleTrust.Load(dir["empty"]));
        Assert.Contains("no trusted key", none.Message);
    }

    [Fact]
    public void A_signed_update_adds_a_task_rollback_restores_the_previous_generation_and_remove_takes_it_out()
    {
        using var dir = new TempDir();
        var signer = Signer.Create(dir, "ours");
        var (ws, device, pre, tasks) = Setup(dir, signer);
        using var trust = BundleTrust.Load(signer.TrustDir);
        string g1 = BundleUpdate.CurrentGeneration(device);

        BundlePacker.AddTask(ws, pre, new PackTask("t2", tasks[2]));
        signer.SignBundle(ws);
        // A manifest changed after signing is refused before anything is written.
        var report = BundleUpdate.Add(device, Path.Combine(ws, "t2.tvqt"), Path.Combine(ws, FormatConstants.ManifestFileName), null, trust);
        string g2 = BundleUpdate.CurrentGeneration(device);
        Assert.Equal(g2, report.Generation);
        Assert.NotEqual(g1, g2);
        Assert.Equal(signer.KeyId, report.Signer);
        Assert.Equal(["t0", "t1", "t2"], trust.LoadManifest(device).Tasks.Select(t => t.Name));
        Assert.True(BundleVerifier.Verify(device).Ok);

        var back = BundleUpdate.Rollback(device, trust);
        Assert.Equal(g1, back.Generation);
        Assert.Equal(["t0", "t1"], trust.LoadManifest(device).Tasks.Select(t => t.Name));
        Assert.True(BundleVerifier.Verify(device).Ok);
        Assert.Equal(g2, BundleUpdate.Rollback(device, trust).Generation); // a second rollback undoes the first

        // Remove t1: the signer's manifest without it.
        var m = ManifestIO.Load(ws);
        m.Tasks.RemoveAll(t => t.Name == "t1");
        ManifestIO.Save(m, ws);
        signer.SignBundle(ws);
        BundleUpdate.Remove(device, Path.Combine(ws, FormatConstants.ManifestFileName), null, trust);
        Assert.Equal(["t0", "t2"], trust.LoadManifest(device).Tasks.Select(t => t.Name));
        Assert.True(File.Exists(Path.Combine(device, "t1.tvqt")), "the removed task's file stays for a rollback");
        BundleUpdate.Rollback(device, trust);
        Assert.Equal(["t0", "t1", "t2"], trust.LoadManifest(device).Tasks.Select(t => t.Name));
    }

    [Fact]
    public void Updates_that_do_not_fit_are_refused_before_the_bundle_changes()
    {
        using var dir = new TempDir();
        var signer = Signer.Create(dir, "ours");
        var stranger = Signer.Create(dir, "theirs");
        var (ws, device, pre, tasks) = Setup(dir, signer);
        using var trust = BundleTrust.Load(signer.TrustDir);
        BundlePacker.AddTask(ws, pre, new PackTask("t2", tasks[2]));
        string manifest = Path.Combine(ws, FormatConstants.ManifestFileName), task = Path.Combine(ws, "t2.tvqt");
        var before = Directory.EnumerateFiles(device).ToDictionary(f => f, File.ReadAllBytes);
        void Unchanged()
        {
            Assert.Equal(before.Keys.Order(), Directory.EnumerateFiles(device).Order());
            foreach (var (f, bytes) in before) Assert.Equal(bytes, File.ReadAllBytes(f));
        }

        // The signer forgot to sign again after add-task: the old signature does not cover the new manifest.
        var e = Assert.Throws<BundleSignatureException>(() => BundleUpdate.Add(device, task, manifest, null, trust));
        Assert.Contains("changed after it was signed", e.Message);
        Unchanged();
        // Signed by a stranger.
        stranger.SignBundle(ws);
        Assert.Throws<BundleSignatureException>(() => BundleUpdate.Add(device, task, manifest, null, trust));
        Unchanged();
        // A damaged task file (one byte flipped): its SHA-256 no longer matches the signed manifest.
        signer.SignBundle(ws);
        var bad = File.ReadAllBytes(task);
        bad[^20] ^= 0x40;
        File.WriteAllBytes(dir["t2.tvqt"], bad);
        var f = Assert.Throws<BundleFormatException>(() => BundleUpdate.Add(device, dir["t2.tvqt"], manifest, null, trust));
        Assert.Contains("SHA-256", f.Message);
        Unchanged();
        // A task file of another bundle.
        var (pre2, tasks2) = MemorySource.SmallModel(1, seed: 99);
        BundlePacker.Pack(pre2, [new PackTask("t2", tasks2[0])], new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 }, dir["other"]);
        Assert.ThrowsAny<BundleFormatException>(() => BundleUpdate.Add(device, dir["other/t2.tvqt"], manifest, null, trust));
        Unchanged();
        // No previous generation yet.
        Assert.Throws<BundleFormatException>(() => BundleUpdate.Rollback(device, trust));
        Unchanged();
    }
}
