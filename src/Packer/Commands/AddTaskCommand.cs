using EdgeTvq.Checkpoints;
using System.CommandLine;
using EdgeTvq.Bundle;
using Spectre.Console;

namespace EdgeTvq.Packer.Commands;

/// <summary><c>edgetvq-pack add-task</c>: the field-update path — one new task file, manifest updated, nothing else touched.</summary>
internal static class AddTaskCommand
{
    public static Command Create()
    {
        var bundle = Cli.Required("--bundle", "existing bundle folder");
        var task = Cli.Required("--task", "NAME=PATH of the fine-tuned checkpoint");
        var pretrained = new Option<string?>("--pretrained") { Description = "the pretrained checkpoint used for pack (default: the path recorded in the manifest)" };
        var meta = new Option<string?>("--task-metadata") { Description = "FILE.json with \"labels\", \"kind\" and \"preprocessing\" (docs/runtime.md)" };
        var head = new Option<string?>("--head") { Description = "HEAD.onnx: the task's head as an ONNX graph (its input: the encoder's output), stored in its task file" };
        var cmd = new Command("add-task", "Add one task to an existing bundle (writes exactly one new file and updates manifest.json)") { bundle, task, pretrained, meta, head };
        cmd.SetAction(r => Cli.Run(() =>
        {
            string dir = r.GetValue(bundle)!;
            var (name, path) = Cli.SplitAssignment(r.GetValue(task)!, "--task");
            string prePath = r.GetValue(pretrained) ?? ManifestIO.Load(dir).Pretrained.SourcePath;
            if (!File.Exists(prePath))
                throw new ArgumentException($"pretrained checkpoint {prePath} (recorded at pack time) is not here; pass --pretrained");
            using var pre = new CheckpointTensorSource(prePath);
            using var src = new CheckpointTensorSource(path);
            var metaFile = r.GetValue(meta);
            var json = metaFile is null ? (System.Text.Json.JsonElement?)null : PackCommand.ReadJson(metaFile);
            PackBlob[]? blobs = r.GetValue(head) is { } headFile ? [PackCommand.ReadHead(headFile)] : null;
            var entry = Cli.WithProgress(p => BundlePacker.AddTask(dir, pre, new PackTask(name, src, json, metaFile ?? "", blobs), p));
            AnsiConsole.MarkupLineInterpolated($"[green]added[/] task '{entry.Name}' as {entry.File} ({entry.Bytes:N0} bytes)");
            return Cli.Ok;
        }));
        return cmd;
    }
}
