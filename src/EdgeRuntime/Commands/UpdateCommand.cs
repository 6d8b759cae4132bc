using System.CommandLine;
using EdgeTvq.Bundle;

namespace EdgeTvq.Runtime.Commands;

/// <summary>
/// <c>edgetvq update add|remove|rollback</c>: signed field updates of the installed bundle, crash-safe at every step
/// (<see cref="BundleUpdate"/>; docs/bundle-format.md, section 9). Replaces deploy/jetson/update.sh's checks, natively.
/// </summary>
internal static class UpdateCommand
{
    public const string DefaultBundle = "/var/lib/edgetvq/bundle";

    public static Command Create()
    {
        var cmd = new Command("update", "Add or remove a task of the installed bundle from a signed manifest, or roll back to the previous generation");
        cmd.Subcommands.Add(Add());
        cmd.Subcommands.Add(Remove());
        cmd.Subcommands.Add(Rollback());
        return cmd;
    }

    private static Option<string> BundleOption() => new("--bundle") { Description = $"the installed bundle (default {DefaultBundle})", DefaultValueFactory = _ => DefaultBundle };
    private static Option<string?> SignatureOption() => new("--signature") { Description = "signature file of the new manifest (default: MANIFEST.json.sig next to it)" };

    private static Command Add()
    {
        var taskFile = new Argument<string>("TASK.tvqt") { Description = "the new task file (from 'edgetvq-pack add-task' on the signer's copy of the bundle)" };
        var manifest = new Argument<string>("MANIFEST.json") { Description = "the signer's new manifest.json that lists it" };
        var bundle = BundleOption();
        var signature = SignatureOption();
        var force = new Option<bool>("--force") { Description = "replace a task file of the same name with different content, or accept a manifest that drops tasks" };
        var trust = new TrustOptions();
        var cmd = new Command("add", "Add one task: check the signature and the file, then switch the manifest atomically") { taskFile, manifest, bundle, signature, force };
        trust.AddTo(cmd);
        cmd.SetAction(r => Cli.Run(() =>
        {
            using var t = trust.Load(r);
            Report(BundleUpdate.Add(r.GetValue(bundle)!, r.GetValue(taskFile)!, r.GetValue(manifest)!, r.GetValue(signature), t, r.GetValue(force)));
            return Cli.Ok;
        }));
        return cmd;
    }

    private static Command Remove()
    {
        var manifest = new Argument<string>("MANIFEST.json") { Description = "the signer's new manifest.json without the task ('edgetvq-pack remove-task', then 'sign')" };
        var bundle = BundleOption();
        var signature = SignatureOption();
        var trust = new TrustOptions();
        var cmd = new Command("remove", "Remove one task: install a signed manifest that no longer lists it (its file stays for a rollback)") { manifest, bundle, signature };
        trust.AddTo(cmd);
        cmd.SetAction(r => Cli.Run(() =>
        {
            using var t = trust.Load(r);
            Report(BundleUpdate.Remove(r.GetValue(bundle)!, r.GetValue(manifest)!, r.GetValue(signature), t));
            return Cli.Ok;
        }));
        return cmd;
    }

    private static Command Rollback()
    {
        var bundle = BundleOption();
        var trust = new TrustOptions();
        var cmd = new Command("rollback", "Make the previous manifest generation current again (run twice to undo)") { bundle };
        trust.AddTo(cmd);
        cmd.SetAction(r => Cli.Run(() =>
        {
            using var t = trust.Load(r);
            Report(BundleUpdate.Rollback(r.GetValue(bundle)!, t));
            return Cli.Ok;
        }));
        return cmd;
    }

    private static void Report(UpdateReport report) =>
        Console.WriteLine($"update: {report.Summary}{(report.Signer is null ? " (unsigned: accepted by --allow-unsigned)" : $"; signed by key {report.Signer}")}");
}
