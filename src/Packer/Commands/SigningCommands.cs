using System.CommandLine;
using EdgeTvq.Bundle;
using EdgeTvq.Format;

namespace EdgeTvq.Packer.Commands;

/// <summary>
/// <c>edgetvq-pack keygen</c>, <c>sign</c> and <c>remove-task</c>: the signer's side of signed field updates
/// (docs/bundle-format.md, section 9; the device side is <c>edgetvq update</c>).
/// </summary>
internal static class SigningCommands
{
    public static Command Keygen()
    {
        var output = new Option<string>("--out") { Description = "key file to write: OUT (private, mode 0600) and OUT with .pub.pem (public, for the devices' trust folder)", Required = true };
        var cmd = new Command("keygen", "Make an ECDSA P-256 key pair for signing bundles") { output };
        cmd.SetAction(r => Cli.Run(() =>
        {
            string priv = r.GetValue(output)!;
            string pub = PublicPath(priv);
            foreach (var p in new[] { priv, pub })
                if (File.Exists(p)) throw new IOException($"{p} exists; keygen never overwrites a key (delete it or choose another --out)");
            var (privatePem, publicPem, keyId) = BundleSigning.CreateKey();
            var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows()) create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite; // readable by its owner only
            using (var s = new FileStream(priv, create))
                s.Write(System.Text.Encoding.ASCII.GetBytes(privatePem));
            File.WriteAllText(pub, publicPem);
            Console.WriteLine($"key {keyId}: private {priv} (keep it on the workstation), public {pub} (install it in /etc/edgetvq/keys on the devices)");
            return Cli.Ok;
        }));
        return cmd;
    }

    public static Command Sign()
    {
        var dir = new Argument<string>("DIR") { Description = "bundle folder" };
        var key = new Option<string>("--key") { Description = "private key from 'edgetvq-pack keygen'", Required = true };
        var cmd = new Command("sign", $"Sign a bundle's manifest.json (writes {SignatureFile.FileName}); run it again after every change of the bundle") { dir, key };
        cmd.SetAction(r => Cli.Run(() =>
        {
            string bundle = r.GetValue(dir)!;
            using var writeLock = BundleWriteLock.Acquire(bundle, TimeSpan.FromSeconds(30), m => Console.Error.WriteLine(m));
            var result = BundleVerifier.Verify(bundle); // never vouch for a damaged bundle
            if (!result.Ok)
            {
                foreach (var p in result.Problems) Console.Error.WriteLine($"error: {p}");
                Console.Error.WriteLine("sign: the bundle does not verify; nothing was signed");
                return Cli.Failed;
            }
            using var signingKey = BundleSigning.LoadPrivateKey(r.GetValue(key)!);
            var signature = BundleSigning.SignBundle(bundle, signingKey);
            Console.WriteLine($"signed generation {signature.ManifestSha256[..16]} of {bundle} with key {signature.KeyId}");
            return Cli.Ok;
        }));
        return cmd;
    }

    public static Command RemoveTask()
    {
        var dir = new Argument<string>("DIR") { Description = "bundle folder" };
        var task = new Option<string>("--task") { Description = "task to remove", Required = true };
        var cmd = new Command("remove-task", "Remove a task from the manifest (its file stays, unlisted, until you delete it); sign again afterwards") { dir, task };
        cmd.SetAction(r => Cli.Run(() =>
        {
            string bundle = r.GetValue(dir)!, name = r.GetValue(task)!;
            using var writeLock = BundleWriteLock.Acquire(bundle, TimeSpan.FromSeconds(30), m => Console.Error.WriteLine(m));
            var m = ManifestIO.Load(bundle);
            var entry = m.Tasks.FirstOrDefault(t => t.Name == name)
                ?? throw new ArgumentException($"{bundle}: no task '{name}' (tasks: {string.Join(", ", m.Tasks.Select(t => t.Name))})");
            var users = (m.Recipes ?? []).Where(kv => kv.Value.Task == name || kv.Value.Tasks?.Contains(name) == true || kv.Value.Coefficients?.ContainsKey(name) == true)
                .Select(kv => kv.Key).ToList();
            if (users.Count > 0)
                throw new ArgumentException($"recipe(s) {string.Join(", ", users)} use task '{name}'; remove or change them first ('edgetvq-pack recipe remove')");
            if (m.Tasks.Count == 1) throw new ArgumentException($"'{name}' is the bundle's only task; a bundle needs at least one");
            m.Tasks.Remove(entry);
            ManifestIO.Save(m, bundle);
            bool signed = File.Exists(Path.Combine(bundle, SignatureFile.FileName));
            Console.WriteLine($"removed task '{name}' from {bundle}; {entry.File} is no longer listed (delete it, or keep it for a device rollback)" +
                (signed ? $". The signature no longer matches: run 'edgetvq-pack sign {bundle} --key KEY'" : ""));
            return Cli.Ok;
        }));
        return cmd;
    }

    private static string PublicPath(string privatePath) =>
        (privatePath.EndsWith(".pem", StringComparison.Ordinal) ? privatePath[..^4] : privatePath) + ".pub.pem";
}
