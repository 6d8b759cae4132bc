using System.Diagnostics;
using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Format;
using EdgeTvq.Runtime.Tests.Aot;
using Xunit.Abstractions;

namespace EdgeTvq.Runtime.Tests.Zoo;

/// <summary>
/// `edgetvq update` as the device runs it (the native x64 binary) and the strict signature check of `edgetvq run`:
/// killed at random moments, an update leaves the old or the new generation, complete and signed, never a mix.
/// </summary>
[Collection(ZooBundleCollection.Name)]
public class UpdateTests(ZooBundle zb, ITestOutputHelper log)
{
    /// <summary>A signer's bundle of the zoo's first two tasks, then the third added and signed; the device copy holds the first generation.</summary>
    private (string Workstation, string DeviceTemplate, string Trust, string KeyPath) Setup(string root)
    {
        Directory.CreateDirectory(root);
        string ws = Path.Combine(root, "ws"), device = Path.Combine(root, "device-template"), trust = Path.Combine(root, "keys"), keyPath = Path.Combine(root, "signer.pem");
        var (priv, pub, _) = BundleSigning.CreateKey();
        File.WriteAllText(keyPath, priv);
        Directory.CreateDirectory(trust);
        File.WriteAllText(Path.Combine(trust, "signer.pub.pem"), pub);
        using var pre = new CheckpointTensorSource(zb.Zoo.File_("pretrained_pt"));
        var sources = zb.Zoo.Tasks.Take(3).Select(t => new CheckpointTensorSource(t.Pt)).ToList();
        try
        {
            BundlePacker.Pack(pre, [new PackTask("a", sources[0]), new PackTask("b", sources[1])], new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 }, ws);
            Sign(ws, keyPath);
            Directory.CreateDirectory(device);
            foreach (var f in Directory.EnumerateFiles(ws)) File.Copy(f, Path.Combine(device, Path.GetFileName(f)));
            BundlePacker.AddTask(ws, pre, new PackTask("c", sources[2]));
            Sign(ws, keyPath);
        }
        finally
        {
            foreach (var s in sources) s.Dispose();
        }
        return (ws, device, trust, keyPath);
    }

    private static void Sign(string bundle, string keyPath)
    {
        using var key = BundleSigning.LoadPrivateKey(keyPath);
        BundleSigning.SignBundle(bundle, key);
    }

    private static void CopyFolder(string from, string to)
    {
        if (Directory.Exists(to)) Directory.Delete(to, recursive: true);
        Directory.CreateDirectory(to);
        foreach (var f in Directory.EnumerateFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
    }

    [Fact]
    public void An_update_killed_at_random_moments_leaves_the_old_or_the_new_signed_generation()
    {
        string root = Path.Combine(zb.Dir, "kill-" + Guid.NewGuid().ToString("N")[..8]);
        var (ws, template, trustDir, _) = Setup(root);
        string device = Path.Combine(root, "device");
        string oldGeneration = BundleUpdate.CurrentGeneration(template), newGeneration = BundleUpdate.GenerationOf(File.ReadAllBytes(Path.Combine(ws, FormatConstants.ManifestFileName)));
        string binary = AotBinaries.Binary("linux-x64");
        string[] args = ["update", "add", Path.Combine(ws, "c.tvqt"), Path.Combine(ws, FormatConstants.ManifestFileName), "--bundle", device, "--trust-dir", trustDir];

        // One uninterrupted run first: it succeeds, and its duration sets the range of kill moments.
        CopyFolder(template, device);
        var clock = Stopwatch.StartNew();
        var whole = AotBinaries.Run("linux-x64", args);
        double wholeMs = clock.Elapsed.TotalMilliseconds;
        Assert.True(whole.ExitCode == 0, whole.Stderr);
        Assert.Contains("added task 'c'", whole.Stdout);
        Assert.Equal(newGeneration, BundleUpdate.CurrentGeneration(device));

        using var trust = BundleTrust.Load(trustDir);
        var rng = new Random(2026);
        int olds = 0, news = 0;
        for (int trial = 0; trial < 50; trial++)
        {
            CopyFolder(template, device);
            var psi = new ProcessStartInfo(binary) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using (var p = Process.Start(psi)!)
            {
                Thread.Sleep(TimeSpan.FromMilliseconds(rng.NextDouble() * wholeMs * 1.2));
                try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } // already finished
                p.WaitForExit();
            }
            // Whatever the moment: a complete generation, its signature accepted in strict mode, every file intact.
            var m = trust.LoadManifest(device);
            string generation = BundleUpdate.CurrentGeneration(device);
            Assert.True(generation == oldGeneration || generation == newGeneration, $"trial {trial}: generation {generation} is neither the old nor the new one");
            if (generation == oldGeneration) olds++; else news++;
            Assert.Equal(generation == oldGeneration ? ["a", "b"] : ["a", "b", "c"], m.Tasks.Select(t => t.Name));
            var verified = BundleVerifier.Verify(device);
            Assert.True(verified.Ok, $"trial {trial}: {string.Join("; ", verified.Problems)}");
        }
        log.WriteLine($"50 kill -9 trials over 0–{wholeMs * 1.2:F0} ms: {olds} left the old generation, {news} the new one");
        Assert.True(olds > 0 && news > 0, $"the kills should land both before and after the switch ({olds} old, {news} new)");
    }

    [Fact]
    public void Run_is_strict_by_default_and_says_why_it_refuses_a_bundle()
    {
        var task = zb.Zoo.Tasks.First().Name;
        string root = Path.Combine(zb.Dir, "strict-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        string[] Run(string bundle, params string[] trust) => ["run", "--bundle", bundle, "--model", zb.Model, "--task", task, "--input", zb.Zoo.TestImages(task), "--limit", "4", .. trust];

        // Signed and trusted: runs.
        var ok = AotBinaries.Run("linux-x64", Run(zb.Bundle, "--trust-dir", zb.TrustDir));
        Assert.True(ok.ExitCode == 0, ok.Stderr);
        // Another key in the trust folder: refused, naming the signer's key.
        string otherTrust = Path.Combine(root, "other-keys");
        Directory.CreateDirectory(otherTrust);
        File.WriteAllText(Path.Combine(otherTrust, "other.pub.pem"), BundleSigning.CreateKey().PublicPem);
        var foreign = AotBinaries.Run("linux-x64", Run(zb.Bundle, "--trust-dir", otherTrust));
        Assert.Equal(1, foreign.ExitCode);
        Assert.Contains($"signed by key {zb.KeyId}, which this device does not trust", foreign.Stderr);
        // Unsigned: refused, unless --allow-unsigned.
        string unsigned = Path.Combine(root, "unsigned");
        CopyFolder(zb.Bundle, unsigned);
        File.Delete(Path.Combine(unsigned, SignatureFile.FileName));
        var refused = AotBinaries.Run("linux-x64", Run(unsigned, "--trust-dir", zb.TrustDir));
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("the bundle is unsigned", refused.Stderr);
        var allowed = AotBinaries.Run("linux-x64", Run(unsigned, "--allow-unsigned"));
        Assert.True(allowed.ExitCode == 0, allowed.Stderr);
        // No trust folder at all (the device default /etc/edgetvq/keys, absent here): a clear start-up error.
        var none = AotBinaries.Run("linux-x64", Run(zb.Bundle, "--trust-dir", Path.Combine(root, "missing")));
        Assert.Equal(1, none.ExitCode);
        Assert.Contains("no trusted key", none.Stderr);
    }
}
